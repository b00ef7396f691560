"""Dataset and trained-model fixtures reused from the experiments and registry tests."""
from tests.studio.experiments.conftest import bank_small, machine, make_version  # noqa: F401
from tests.studio.registry.factories import _serving_state, bank_models, bank_run  # noqa: F401
