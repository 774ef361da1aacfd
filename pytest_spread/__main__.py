"""`python -m pytest_spread` runs the `spread` command."""

from pytest_spread.command.cli import run

run()
