"""Variants, as a task.yaml declares them: each test runs once per system and variant."""

SPREAD_ENVIRONMENT = {
    "GREETING/polite": "good morning",
    "GREETING/casual": "hi",
}


def test_each_variant_has_its_greeting(spread_job):
    expected = {"polite": "good morning", "casual": "hi"}[spread_job.variant]
    assert spread_job.environment["GREETING"] == expected
    assert spread_job.name.endswith(f"checks/test_variants.py::{_name()}:{spread_job.variant}")


def _name() -> str:
    return "test_each_variant_has_its_greeting"
