"""The `spread` command: Spread's own flags, log and report, without pytest."""
