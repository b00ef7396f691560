"""The experiments API: submit with validation naming the field, read, cancel, trials and model downloads,
as owner, editor, viewer and outsider."""
import joblib
import pytest
from django.core.files.storage import default_storage
from sklearn.linear_model import LogisticRegression

from studio.experiments.models import Run
from tests.studio.experiments.conftest import small_job
from tests.studio.experiments.factories import make_run

pytestmark = pytest.mark.django_db

ROLES = ["owner", "editor", "viewer", "outsider"]


@pytest.fixture
def finished(team, bank_small):
    path = default_storage.path("experiments/test-model/model.pkl")
    import os

    os.makedirs(os.path.dirname(path), exist_ok=True)
    joblib.dump(LogisticRegression().fit([[0], [1]], [0, 1]), path)
    return make_run(team.workspace, team.alice, bank_small, small_job(bank_small.dataset_id), n_trials=3,
                    model_file="experiments/test-model/model.pkl")


@pytest.mark.parametrize("role,expected", [("owner", 201), ("editor", 201), ("viewer", 403), ("outsider", 400)])
def test_submitting_needs_an_editor_of_the_workspace(team, bank_small, api_for, role, expected):
    response = api_for(team.by_role(role)).post("/api/v1/experiments/", small_job(bank_small.dataset_id),
                                                format="json")
    assert response.status_code == expected, response.content
    if expected == 201:
        run = Run.objects.get(pk=response.json()["id"])
        assert response.json()["status"] == "queued" and run.workspace == team.workspace
        assert run.config["limits"]["max_trials"] == 3 and run.config["target_column_name"] == "y"
    if role == "outsider":
        # Dave acts in his personal workspace, where Team's dataset does not exist.
        assert response.json() == {"dataset": [f"No dataset {bank_small.dataset_id} in this workspace; list yours at "
                                               "/api/v1/datasets/."]}


@pytest.mark.parametrize("role", ROLES)
def test_reading_experiments_and_trials(team, finished, api_for, role):
    client = api_for(team.by_role(role))
    trial = finished.trials.order_by("number").first()
    urls = [f"/api/v1/experiments/{finished.pk}/", f"/api/v1/experiments/{finished.pk}/trials/",
            f"/api/v1/experiments/{finished.pk}/logs/", f"/api/v1/trials/{trial.pk}/", f"/api/v1/trials/{trial.pk}/model"]
    for url in urls:
        assert client.get(url).status_code == (404 if role == "outsider" else 200), url
    listing = client.get("/api/v1/experiments/").json()
    assert [r["id"] for r in listing["results"]] == ([] if role == "outsider" else [finished.pk])


@pytest.mark.parametrize("role,expected", [("owner", 200), ("editor", 200), ("viewer", 403), ("outsider", 404)])
def test_cancel_and_importance_need_an_editor(team, finished, api_for, role, expected):
    client = api_for(team.by_role(role))
    assert client.post(f"/api/v1/experiments/{finished.pk}/cancel/").status_code == expected
    trial = finished.trials.first()
    assert client.post(f"/api/v1/trials/{trial.pk}/feature-importance/").status_code == (
        202 if expected == 200 else expected)


def test_experiment_json_has_status_progress_best_trial(team, finished, api_for):
    data = api_for(team.carol).get(f"/api/v1/experiments/{finished.pk}/").json()
    best = finished.best_trial
    assert data["status"] == "completed" and data["name"] == "bank-small"
    assert data["best_trial"] == {"id": best.pk, "number": best.number, "algorithm": best.algorithm,
                                  "pipeline_name": best.pipeline_name, "score": best.score}
    assert data["progress"]["trials_done"] == 3 and data["progress"]["max_trials"] == 3
    assert data["dataset"] == {"id": finished.dataset_version.dataset_id, "name": "bank-small", "version": 1}
    trials = api_for(team.carol).get(f"/api/v1/experiments/{finished.pk}/trials/").json()
    assert [t["number"] for t in trials] == [0, 1, 2, 3, 4]
    assert [t["is_ensemble"] for t in trials] == [False, False, False, True, True]


def test_model_download_is_the_pickle_and_onnx_is_refused_with_a_reason(team, finished, api_for):
    trial = finished.trials.get(number=0)
    response = api_for(team.carol).get(f"/api/v1/trials/{trial.pk}/model")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="bank-small-run1-trial0.pkl"'
    body = b"".join(response.streaming_content)
    assert body == open(default_storage.path("experiments/test-model/model.pkl"), "rb").read()
    onnx = api_for(team.carol).get(f"/api/v1/trials/{trial.pk}/onnx")
    assert onnx.status_code == 404
    assert "training.enable_onnx_compatible_models=true" in onnx.json()["detail"]


@pytest.mark.parametrize("change,field,message", [
    ({"task": "regression", "target_column": "job", "primary_metric": "r2_score"}, "task",
     "Regression needs a numeric target, but 'job' is categorical. Choose classification, or a numeric target column."),
    ({"primary_metric": "r2_score"}, "primary_metric",
     "'r2_score' is not a primary metric for classification; use one of accuracy, AUC_weighted, "
     "average_precision_score_weighted, norm_macro_recall, precision_score_weighted, log_loss."),
    ({"validation": {"n_cross_validations": 500}}, "validation.n_cross_validations",
     "500 folds but only 400 training rows; use fewer folds."),
    ({"limits": {"max_trials": 0}}, "limits.max_trials", "Must be between 1 and 10,000 trials; 0 is not."),
    ({"limits": {"max_trials": 10**9}}, "limits.max_trials",
     "Must be between 1 and 10,000 trials; 1,000,000,000 is not."),
    ({"limits": {"timeout_minutes": -1}}, "limits.timeout_minutes",
     "Must be between 0.1 and 10,080 minutes; -1 is not."),
    ({"limits": {"timeout_minutes": 99_999_999}}, "limits.timeout_minutes",
     "Must be between 0.1 and 10,080 minutes; 99,999,999 is not."),
    ({"limits": {"max_concurrent_trials": 65}}, "limits.max_concurrent_trials",
     "Must be between 1 and 64 trials; 65 is not."),
    ({"limits": {"max_cores_per_trial": 0}}, "limits.max_cores_per_trial",
     "Must be -1 (the machine's cores shared among the concurrent trials) or between 1 and 256 cores; 0 is not."),
    ({"primary_metric": "AUC_weighted", "limits": {"exit_score": 5}}, "limits.exit_score",
     "AUC_weighted is between 0 and 1, so an exit score of 5 can never be reached; use a score in that range."),
    ({"primary_metric": "log_loss", "limits": {"exit_score": -0.5}}, "limits.exit_score",
     "log_loss is at least 0, so an exit score of -0.5 can never be reached; use a score in that range."),
    ({"limits": {"max_trails": 3}}, "limits.max_trails",
     "Unknown setting; known: ['enable_early_termination', 'exit_score', 'max_concurrent_trials', "
     "'max_cores_per_trial', 'max_nodes', 'max_trials', 'timeout_minutes', 'trial_timeout_minutes']."),
    ({"training": {"allowed_training_algorithms": ["Prophet"]}}, "training.allowed_training_algorithms", None),
    ({"target_column": "nope"}, "target_column", None),
    ({"name": ""}, "name", "Give the experiment a name; runs with the same name are grouped together."),
    ({"validation": {"n_cross_validations": 3, "validation_data_size": 0.2}}, "validation.validation_data_size",
     "give one validation method, not n_cross_validations and validation_data_size; leave validation empty for "
     "the automatic choice."),
    ({"positive_label": "maybe"}, "positive_label", "'maybe' is not a value of 'y'; use one of no, yes."),
    ({"primary_metric": ["AUC_weighted"]}, "primary_metric", 'Give the metric\'s name as a string, e.g. "AUC_weighted".'),
])
def test_invalid_settings_give_400_naming_the_field(team, bank_small, api_for, change, field, message):
    job = {**small_job(bank_small.dataset_id), **change}
    response = api_for(team.bob).post("/api/v1/experiments/", job, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    if message:
        assert errors[field] == [message]
    assert not Run.objects.exists()


def test_integer_labels_stay_integers_in_the_positive_class(team, make_version, api_for):
    titanic = make_version("titanic.csv", name="titanic")
    job = {**small_job(titanic.dataset_id), "name": "titanic", "target_column": "Survived"}
    refused = api_for(team.bob).post("/api/v1/experiments/", {**job, "positive_label": "2"}, format="json")
    assert refused.json() == {"positive_label": ["'2' is not a value of 'Survived'; use one of 0, 1."]}
    accepted = api_for(team.bob).post("/api/v1/experiments/", {**job, "positive_label": "1"}, format="json")
    assert accepted.status_code == 201
    assert Run.objects.get(pk=accepted.json()["id"]).config["positive_label"] == 1


def test_a_form_encoded_submission_is_read_like_a_json_one(team, bank_small, api_for):
    """Found by schemathesis: a form body's values arrived as lists and the metric check answered 500."""
    response = api_for(team.bob).post("/api/v1/experiments/", {
        "dataset": bank_small.dataset_id, "name": "form", "target_column": "y", "task": "classification",
        "primary_metric": "0"})
    assert response.status_code == 400
    assert list(response.json()) == ["primary_metric"]
    assert response.json()["primary_metric"][0].startswith("'0' is not a primary metric for classification")
    assert not Run.objects.exists()
