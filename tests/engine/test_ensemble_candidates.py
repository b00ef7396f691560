"""Ensemble candidates are distinct models: a trial predicting what a better one predicts is left out, so
copies cannot fill the stack or take several votes in the sorted initialisation; and one algorithm holds a
few seats while others are left, so a search that refined one algorithm still ensembles several. A voting
ensemble drops the members whose prediction time buys too little (every task prunes; see test_vote_pruning)."""
import numpy as np

from automl_engine.ensemble import distinct_predictions, prune_by_cost, spread_over_groups


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


def test_one_algorithm_holds_a_few_seats_while_others_are_left():
    ranked = ["LassoLars"] * 6 + ["LightGBM", "LassoLars", "XGBoost", "LightGBM"]
    order = spread_over_groups(ranked, per_group=4)
    assert order == [0, 1, 2, 3, 6, 8, 9, 4, 5, 7]
    assert [ranked[i] for i in order[:6]] == ["LassoLars"] * 4 + ["LightGBM", "XGBoost"]
    # nothing else left: the passed-over ones follow, best first, so no seat stays empty
    assert spread_over_groups(["A"] * 5, per_group=2) == [0, 1, 2, 3, 4]
    assert spread_over_groups([], per_group=4) == []


def _rmse(y):
    return lambda p: float(np.sqrt(np.mean((p - y) ** 2)))


def test_members_are_dropped_costliest_first_while_most_of_the_gain_stays():
    # Three forecasts with independent errors: each alone has RMSE 1, any two 0.707, all three 0.577. Dropping
    # one of three gives up 31% of the ensemble's gain over the best single one, dropping a second all of it.
    y = np.zeros(4)
    oofs = [np.array([1.0, -1, 1, -1]), np.array([1.0, 1, -1, -1]), np.array([-1.0, 1, 1, -1])]
    third = [1 / 3] * 3
    assert prune_by_cost(oofs, third, [1.0, 3.0, 2.0], _rmse(y), False, share=0.1) == third
    assert prune_by_cost(oofs, third, [1.0, 3.0, 2.0], _rmse(y), False, share=0.5) == [0.5, 0.0, 0.5]
    assert prune_by_cost(oofs, third, [2.0, 1.0, 3.0], _rmse(y), False, share=0.5) == [0.5, 0.5, 0.0]
    # a member weighed zero stays out, and a single member is never dropped
    assert prune_by_cost(oofs, [0.5, 0.5, 0.0], [1.0, 3.0, 2.0], _rmse(y), False, share=0.5) == [0.5, 0.5, 0.0]
    assert prune_by_cost(oofs, [0.0, 1.0, 0.0], [1.0, 3.0, 2.0], _rmse(y), False, share=1.0) == [0.0, 1.0, 0.0]


def test_a_member_that_adds_nothing_goes_whatever_its_cost():
    # The third forecast is the blend of the first two: its vote changes nothing, so it is dropped even when
    # it is the cheapest, and the others keep their proportions.
    y = np.zeros(4)
    a, b = np.array([1.0, -1, 1, -1]), np.array([1.0, 1, -1, -1])
    weights = prune_by_cost([a, b, (a + b) / 2], [0.4, 0.4, 0.2], [3.0, 2.0, 1.0], _rmse(y), False, share=0.0)
    assert weights == [0.5, 0.5, 0.0]
