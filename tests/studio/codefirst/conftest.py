"""The experiments tests' dataset fixtures, reused: code-first features act on real runs."""
from tests.studio.experiments.conftest import bank_small, machine, make_version  # noqa: F401
from tests.studio.registry.factories import (_serving_state, bank_models, bank_run, hardware_models,  # noqa: F401
                                             hardware_run)
