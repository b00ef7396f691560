"""The experiments tests' dataset fixtures, reused: code-first features act on real runs."""
from tests.studio.experiments.conftest import bank_small, machine, make_version  # noqa: F401
