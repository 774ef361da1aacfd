"""Spread's project model: loading, the job matrix, environments and filters.

Nothing here knows pytest.
"""
