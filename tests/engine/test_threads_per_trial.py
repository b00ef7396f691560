"""``limits.max_cores_per_trial`` decides each trial's native threads (the Azure setting, no longer ignored):
-1 shares the machine's cores among the concurrent trials, a positive value is taken as asked up to the
machine's cores; the fitted learner carries exactly that ``n_jobs``."""
import os

import joblib
import pytest

from automl_engine import ConfigError, automl
from automl_engine.config import Limits


@pytest.mark.parametrize("limits,cores,threads", [
    (Limits(), 8, 8), (Limits(max_concurrent_trials=4), 8, 2), (Limits(max_concurrent_trials=16), 8, 1),
    (Limits(max_cores_per_trial=3), 8, 3), (Limits(max_cores_per_trial=3, max_concurrent_trials=4), 8, 3),
    (Limits(max_cores_per_trial=32), 8, 8),
])
def test_threads_per_trial(limits, cores, threads):
    assert limits.threads_per_trial(cores) == threads


def test_bad_values_are_refused_with_the_setting(hardware_df):
    job = automl.regression(training_data=hardware_df, target_column_name="PRP")
    with pytest.raises(ConfigError) as info:
        job.set_limits(max_cores_per_trial=0)
        job.run()
    assert info.value.setting == "limits.max_cores_per_trial"
    assert str(info.value).endswith("must be -1 (share the machine's cores among the concurrent trials) or a whole "
                                    "number of cores of at least 1")


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to tell one thread from the default")
def test_the_fitted_learner_gets_max_cores_per_trial_threads(hardware_df, tmp_path):
    def fitted_threads(**limits):
        job = automl.regression(training_data=hardware_df, target_column_name="PRP", n_cross_validations=2)
        job.set_limits(max_trials=1, timeout_minutes=2, **limits)
        job.set_training(allowed_training_algorithms=["LightGBM"], enable_vote_ensemble=False,
                         enable_stack_ensemble=False, enable_model_explainability=False)
        result = job.run(workdir=tmp_path / str(limits))
        model = joblib.load(result.trials[0].model_path)
        return model.steps[-1][1].get_params()["n_jobs"]

    assert fitted_threads(max_cores_per_iteration=1) == 1   # the v1 spelling is the same setting
    assert fitted_threads() == os.cpu_count()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to tell one thread from the default")
def test_the_model_handed_back_predicts_with_all_the_jobs_cores(hardware_df, tmp_path):
    # Two concurrent trials on one core each: the saved trial fits and keeps one thread, the best model the
    # result hands back predicts on both (serving sets its own count when it loads the file).
    job = automl.regression(training_data=hardware_df, target_column_name="PRP", n_cross_validations=2)
    job.set_limits(max_trials=2, timeout_minutes=2, max_concurrent_trials=2)
    job.set_training(allowed_training_algorithms=["LightGBM"], enable_vote_ensemble=False,
                     enable_stack_ensemble=False, enable_model_explainability=False)
    result = job.run(workdir=tmp_path)
    saved = joblib.load(result.best_trial.model_path)
    assert saved.steps[-1][1].get_params()["n_jobs"] == os.cpu_count() // 2
    assert result.best_model.steps[-1][1].get_params()["n_jobs"] == os.cpu_count()
