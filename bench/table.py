"""Print benchmark results as a plain-text table."""

from __future__ import annotations


def print_table(rows: list[tuple[str, ...]]) -> None:
    """Rows of cells, the first one the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(" | ".join(cells).rstrip())
        if index == 0:
            print("-+-".join("-" * width for width in widths))
