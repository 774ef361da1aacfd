"""`python -m pytest_spread` runs the `spread` command."""

from .cli import run

run()
