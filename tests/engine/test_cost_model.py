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
    driver.rates["LightGBM"] = [4.4 / driver._units("LightGBM", {"n_estimators": 40})]
    assert driver._estimate("ExtremeRandomTrees", {"n_estimators": 100}) == pytest.approx(15 * 4.4 / 10.4)
    assert driver._estimate("LightGBM", {"n_estimators": 100}) == pytest.approx(4.4 * 100 / 40)
