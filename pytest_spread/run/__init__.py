"""Running jobs: scripts, machines' lifecycle, content and reports."""
