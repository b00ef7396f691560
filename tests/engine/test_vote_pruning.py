"""A tabular voting ensemble keeps only the members whose prediction time buys part of its gain: Caruana
selection takes any gain, however small, and each member costs every prediction its full time (on letter a
400-round LightGBM was 2.3 of the blend's 3.7 s for no validation accuracy)."""
import numpy as np
import pytest

from automl_engine import Callbacks, regression
from automl_engine.driver import Driver
from automl_engine.executor import InlineExecutor
from automl_engine.results import TrialResult
from automl_engine.tasks import get_task


def _trial(number: int, algorithm: str, oof: np.ndarray, tmp_path) -> TrialResult:
    path = tmp_path / f"oof{number}.npy"
    np.save(path, oof)
    trial = TrialResult(number=number, algorithm=algorithm, pipeline_name=algorithm, featurization="",
                        hyperparameters={}, metrics={}, score=None, charts={}, test_metrics=None, test_charts=None,
                        duration_seconds=1.0, status="completed", error=None, is_ensemble=False, model_path=None,
                        started_at=None, finished_at=None)
    trial.oof_path = str(path)
    return trial


def test_a_costly_member_that_adds_little_is_left_out_of_a_tabular_voting_ensemble(hardware_df, tmp_path):
    assert get_task("classification").vote_prune_share == get_task("regression").vote_prune_share == 0.1
    logs = []
    job = regression(training_data=hardware_df, target_column_name="PRP", primary_metric="r2_score",
                     n_cross_validations=3)
    driver = Driver(job, Callbacks(on_log=lambda level, message: logs.append(message)), InlineExecutor(),
                    tmp_path / "run")
    driver.prepare()
    y = driver.y[driver.data.oof_rows]
    # Two good models with independent errors of the same size, and a third whose errors are 2.5 times as large:
    # the blend of the first two halves their error variance, and the third takes a little more off. The errors
    # are orthogonal to each other and to a constant, of equal norm: the blends' scores follow from the weights.
    basis, _ = np.linalg.qr(np.column_stack([np.ones(len(y)), np.random.RandomState(0).normal(size=(len(y), 3))]))
    noise = basis[:, 1:].T * np.sqrt(len(y))
    scale = 0.2 * y.std()
    oofs = [y + scale * noise[0], y + scale * noise[1], y + 2.5 * scale * noise[2]]
    candidates = [_trial(i, name, oof, tmp_path) for i, (name, oof) in
                  enumerate(zip(["LightGBM", "ElasticNet", "RandomForest"], oofs))]
    # Validation prediction seconds per call: the weak forest is the dearest, then the LightGBM.
    for number, seconds in enumerate([0.3, 0.01, 0.9]):
        driver.timings[number] = {"predict_seconds": 3 * seconds, "predict_rows": len(y), "fit_seconds": 1.0}
    scorer = driver._selection_scorer(y)

    # Caruana selection takes the weak forest: 4/9, 4/9, 1/9 leave an error variance of (16 + 16 + 6.25) / 81 of
    # one good model's, R² 0.98111 against 0.98 for the two good models alone and 0.96 for either of them.
    selected = driver.task.vote_weights(oofs, scorer, True)
    assert selected == pytest.approx([4 / 9, 4 / 9, 1 / 9])
    blend = lambda w: sum(wi * o for wi, o in zip(w, oofs))  # noqa: E731
    assert [scorer(o) for o in oofs[:2]] == pytest.approx([0.96, 0.96])
    assert scorer(blend(selected)) == pytest.approx(1 - 0.04 * 38.25 / 81)
    assert scorer(blend([0.5, 0.5, 0.0])) == pytest.approx(0.98)
    # Without the forest, the blend gives up 5% of its gain over the best model (0.0011 of 0.0211): it goes.
    # Without the LightGBM (the forest and the ElasticNet, 0.8 and 0.2), it would give up 79%: it stays.
    weights = driver._vote(candidates, oofs, scorer)
    assert weights == pytest.approx([0.5, 0.5, 0.0]) and weights[2] == 0.0
    assert logs[-1] == ("voting ensemble: left out RandomForest (trial 2), 0.900 s of prediction per call for less "
                        "than 10% of its gain over the best model (0.310 s kept)")
    assert scorer(blend([0.0, 0.8, 0.2])) == pytest.approx(1 - 0.04 * (0.64 + 0.04 * 6.25))
