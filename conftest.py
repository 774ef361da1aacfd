"""Repository-wide pytest settings: what is not a test of ours."""

collect_ignore = ["examples", "bench", "build"]

pytest_plugins = ["tests.hosts.fixtures"]
