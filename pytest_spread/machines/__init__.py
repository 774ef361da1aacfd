"""Machines for a run's workers: allocation, project content, lanes and the reuse file."""
