"""One machine's lifecycle: scripts of every level, content, artifacts, shells and the report."""
