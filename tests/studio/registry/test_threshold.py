"""A binary classifier's decision threshold: the explorer's counts, saving it with a registered version (by
role), and the endpoint predicting with it and saying so."""
import pytest

from studio.experiments.thresholds import threshold_table
from studio.registry import services as registry
from studio.serving import services as serving
from tests.studio.registry.factories import sample_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(team, bank_run):
    return registry.register_version(trial=bank_run.best_trial, name="bank", user=team.alice)


def test_the_explorer_counts_come_from_the_trials_validation_predictions(bank_run, bank_models):
    table = threshold_table(bank_run.best_trial)
    assert (table["positive"], table["negative"]) == ("yes", "no")
    assert table["thresholds"][:3] == [0.0, 0.01, 0.02] and table["thresholds"][-1] == 1.0
    positives = int((bank_models.frame["y"] == "yes").sum())
    assert table["rows"] == len(bank_models.frame)  # 3-fold cross-validation scores every row
    assert table["tp"][0] == positives and table["fp"][0] == table["rows"] - positives  # threshold 0: all yes
    assert all(tp + fn == positives for tp, fn in zip(table["tp"], table["fn"]))
    assert table["tp"] == sorted(table["tp"], reverse=True)
    confusion = bank_run.best_trial.charts["confusion_matrix"]
    assert confusion["labels"] == ["no", "yes"]
    assert table["tp"][50] == confusion["matrix"][1][1] and table["fp"][50] == confusion["matrix"][0][1]


def test_a_saved_threshold_decides_the_endpoints_answer(team, version, bank_models):
    endpoint, _ = serving.create_endpoint(workspace=team.workspace, user=team.alice, name="bank-th",
                                          model_version=version)
    rows = sample_rows(bank_models, 20)
    plain = serving.score_rows(endpoint, rows).body
    assert "threshold" not in plain and set(plain["predictions"]) <= {"no", "yes"}
    registry.set_decision_threshold(version, "0", "1", "5")
    everything = serving.score_rows(endpoint, rows).body
    assert everything["predictions"] == ["yes"] * 20
    assert everything["threshold"] == {"value": 0.0, "positive_class": "yes"}
    registry.set_decision_threshold(version, 1.0)
    assert serving.score_rows(endpoint, rows).body["predictions"] == [
        "yes" if p["yes"] >= 1.0 else "no" for p in plain["probabilities"]]
    registry.set_decision_threshold(version, None)
    assert serving.score_rows(endpoint, rows).body == plain


def test_a_threshold_must_be_a_probability_of_a_binary_classifier(team, version, hardware_run):
    with pytest.raises(registry.RegistryError, match="A threshold is a probability between 0 and 1; 1.5 is not."):
        registry.set_decision_threshold(version, 1.5)
    regressor = registry.register_version(trial=hardware_run.best_trial, name="hardware", user=team.alice)
    with pytest.raises(registry.RegistryError, match="is not a binary classifier"):
        registry.set_decision_threshold(regressor, 0.5)


@pytest.mark.parametrize("role,status", [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 404)])
def test_saving_a_threshold_needs_an_editor(team, version, client_for, role, status):
    client = client_for(team.by_role(role))
    url = f"/models/{version.model_id}/versions/{version.version}/threshold/"
    response = client.post(url, {"threshold": "0.3", "cost_fp": "1", "cost_fn": "4"})
    assert response.status_code == status
    version.refresh_from_db()
    expected = {"value": 0.3, "positive_class": "yes", "cost_fp": 1.0, "cost_fn": 4.0} if status == 302 else None
    assert version.decision_threshold == expected
    if role != "outsider":
        page = client.get(f"/models/{version.model_id}/versions/{version.version}/").content.decode()
        assert 'data-testid="threshold-explorer"' in page
        assert ('data-testid="threshold-form"' in page) == (status == 302)
