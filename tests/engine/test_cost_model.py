"""The search's cost model: how long a configuration is expected to take, from the rates of finished trials."""
import numpy as np
import pandas as pd
import pytest

from automl_engine import Callbacks, classification
from automl_engine.driver import Driver


def _driver(n_classes: int, tmp_path) -> Driver:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=300), "z": rng.normal(size=300),
                       "y": [f"c{i % n_classes}" for i in range(300)]})
    driver = Driver(classification(training_data=df, target_column_name="y", n_cross_validations=3),
                    Callbacks(), None, tmp_path)
    driver.prepare()
    return driver


@pytest.mark.parametrize("n_classes,boosting_units,forest_units", [(2, 1.0, 1.0), (26, 26.0, 1.0)])
def test_boosting_and_linear_cost_grows_with_the_classes_a_forest_does_not(tmp_path, n_classes, boosting_units,
                                                                            forest_units):
    driver = _driver(n_classes, tmp_path)
    assert driver._units("LightGBM", {"n_estimators": 100}) == boosting_units
    assert driver._units("XGBoostClassifier", {"n_estimators": 200}) == 2 * boosting_units
    assert driver._units("LogisticRegression", {"C": 1.0}) == boosting_units
    assert driver._units("ExtremeRandomTrees", {"n_estimators": 100}) == forest_units
    assert driver._units("NaiveBayes", {}) == 1.0


def test_a_forest_estimated_from_a_multiclass_boosting_rate_is_not_26_times_too_dear(tmp_path):
    # On letter (26 classes) LightGBM's 40-round default took 4.4 s: 0.42 s per round of 26 trees. A forest of
    # 100 trees (cost 15 against LightGBM's 1 per 100 rounds) is then expected to take 15 * 0.42 = 6.3 s, as
    # it does; counted per round, it was expected to take 165 s and skipped with 50 s left.
    driver = _driver(26, tmp_path)
    driver.rates["LightGBM"] = [(driver.n_fit_rows, 4.4 / driver._units("LightGBM", {"n_estimators": 40}))]
    assert driver._estimate("ExtremeRandomTrees", {"n_estimators": 100}) == pytest.approx(15 * 4.4 / 10.4)
    assert driver._estimate("LightGBM", {"n_estimators": 100}) == pytest.approx(4.4 * 100 / 40)


def test_the_time_no_sampled_configuration_fits_goes_to_the_cheapest_one_with_fewer_rounds():
    from automl_engine.driver import shrink_to_fit

    candidates = [(21.0, "LightGBM", {"n_estimators": 400, "num_leaves": 63}),
                  (11.0, "XGBoostClassifier", {"n_estimators": 300, "max_depth": 6}),
                  (9.0, "KNN", {"n_neighbors": 5})]
    # 10 s left, 1 s of it fixed per trial: 0.8 * 10 - 1 = 7 s for the rounds, 10 s for 300 rounds -> 210.
    assert shrink_to_fit(candidates, 10.0, 1.0) == ("XGBoostClassifier", {"n_estimators": 210, "max_depth": 6})
    assert shrink_to_fit(candidates, 1.0, 0.9) is None  # no time beyond the fixed part
    assert shrink_to_fit(candidates, 1.5, 0.0) == ("XGBoostClassifier", {"n_estimators": 32, "max_depth": 6})
    assert shrink_to_fit(candidates, 0.4, 0.0) is None  # 0.32 s: 8 rounds are not worth a trial
    assert shrink_to_fit([(5.0, "KNN", {"n_neighbors": 5})], 4.0, 0.0) is None  # nothing to shrink
    assert shrink_to_fit([(5.0, "HistGradientBoosting", {"max_iter": 200})], 4.0, 1.0) == (
        "HistGradientBoosting", {"max_iter": 110})
