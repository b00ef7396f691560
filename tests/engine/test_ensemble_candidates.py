"""Ensemble candidates are distinct models: a trial predicting what a better one predicts is left out, so
copies cannot fill the stack or take several votes in the sorted initialisation."""
import numpy as np

from automl_engine.ensemble import distinct_predictions


def test_copies_of_a_better_prediction_are_left_out():
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.0, 2.0, 3.1])
    kept = distinct_predictions([a, a.copy(), a * (1 + 1e-12), b, a, np.array([0.0, 0.0, 0.0])], limit=10)
    assert [i for i, _ in kept] == [0, 3, 5]
    assert kept[1][1] is b


def test_classification_probabilities_compare_as_matrices():
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    kept = distinct_predictions([p, p.copy(), p[:, ::-1], p[:1]], limit=10)
    assert [i for i, _ in kept] == [0, 2, 3]


def test_stops_reading_at_the_limit():
    def predictions():
        yield np.array([1.0])
        yield np.array([1.0])
        yield np.array([2.0])
        raise AssertionError("read past the limit")

    assert [i for i, _ in distinct_predictions(predictions(), limit=2)] == [0, 2]
    assert distinct_predictions(predictions(), limit=0) == []
