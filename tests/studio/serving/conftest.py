from tests.studio.registry.factories import (_serving_state, bank_models, bank_run, hardware_models,  # noqa: F401
                                             hardware_run)
