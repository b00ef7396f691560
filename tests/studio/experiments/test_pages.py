"""Pages of the experiments app as owner, editor, viewer and outsider, the wizard's checks, and rendering."""
import pytest

from studio.experiments.models import Run
from tests.studio.experiments.conftest import small_job
from tests.studio.experiments.factories import make_run

pytestmark = pytest.mark.django_db

ROLES = ["owner", "editor", "viewer", "outsider"]


@pytest.fixture
def finished(team, bank_small):
    return make_run(team.workspace, team.alice, bank_small, small_job(bank_small.dataset_id), n_trials=4)


def _pages(run):
    trial = run.trials.order_by("number").first()
    return [f"/experiments/runs/{run.pk}/", f"/experiments/runs/{run.pk}/live/", f"/experiments/runs/{run.pk}/logs/",
            f"/experiments/runs/{run.pk}/history/", f"/experiments/runs/{run.pk}/config.yml",
            f"/experiments/runs/{run.pk}/compare/?trial={trial.pk}&trial={trial.pk + 1}",
            f"/experiments/trials/{trial.pk}/", f"/experiments/trials/{trial.pk}/importance/"]


@pytest.mark.parametrize("role", ROLES)
def test_run_and_trial_pages_are_visible_to_members_only(team, finished, client_for, role):
    client = client_for(team.by_role(role))
    for url in _pages(finished):
        response = client.get(url)
        assert response.status_code == (404 if role == "outsider" else 200), (url, response.status_code)


@pytest.mark.parametrize("role,expected", [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 404)])
def test_changing_a_run_needs_an_editor(team, finished, client_for, role, expected):
    client = client_for(team.by_role(role))
    trial = finished.trials.first()
    assert client.post(f"/experiments/runs/{finished.pk}/cancel/").status_code == expected
    assert client.post(f"/experiments/trials/{trial.pk}/importance/").status_code == expected
    assert client.get(f"/experiments/runs/{finished.pk}/resubmit/").status_code == expected


@pytest.mark.parametrize("role,expected", [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 302)])
def test_the_wizard_is_for_editors_of_the_current_workspace(team, bank_small, client_for, role, expected):
    client = client_for(team.by_role(role))
    assert client.get("/experiments/new/").status_code == expected
    assert client.get("/experiments/new/basics/").status_code == (403 if role == "viewer" else 200)
    if role == "outsider":
        # Dave works in his personal workspace: Team's datasets are neither offered nor accepted.
        assert "bank-small" not in client.get("/experiments/new/data/").content.decode()
        response = client.post("/experiments/new/data/", {"dataset": bank_small.dataset_id, "task": "classification",
                                                          "target_column": "y"})
        assert "dataset" in response.context["form"].errors


def test_the_list_shows_runs_of_the_current_workspace_with_filters_and_pages(team, finished, bank_small, client_for):
    for i in range(26):
        make_run(team.workspace, team.bob, bank_small, small_job(bank_small.dataset_id, name=f"other-{i:02d}"),
                 status="failed", n_trials=1, ensembles=False)
    client = client_for(team.carol)
    page1 = client.get("/experiments/").content.decode()
    assert page1.count('data-testid="next-page"') == 1 and "1–25 of 27" in page1
    only_completed = client.get("/experiments/?status=completed").content.decode()
    assert "bank-small" in only_completed and "other-00" not in only_completed
    assert "other-07" in client.get("/experiments/?q=other-07").content.decode()
    assert "No runs match these filters" in client.get("/experiments/?q=nothing-like-this").content.decode()
    dave = client_for(team.dave).get("/experiments/").content.decode()
    assert "No experiments yet" in dave and "bank-small" not in dave


def test_run_page_ranks_trials_and_ensembles_by_score_and_sorts_by_any_metric(team, finished, client_for):
    client = client_for(team.carol)
    html = client.get(f"/experiments/runs/{finished.pk}/").content.decode()
    assert html.count('data-testid="trial-row"') == 6
    rows = html.split('data-testid="trial-row"')[1:]
    by_score = sorted(finished.trials.all(), key=lambda t: (-t.score, t.number))
    assert [f"<td>{rank}</td><td>{t.number}</td>" in row for rank, (t, row) in enumerate(zip(by_score, rows), 1)] \
        == [True] * 6
    assert ['<span class="badge text-bg-light">ensemble</span>' in row for row in rows] == \
        [t.is_ensemble for t in by_score]
    assert 'hx-trigger="every 2s"' not in html  # a finished run does not poll
    by_duration = client.get(f"/experiments/runs/{finished.pk}/live/?sort=duration_seconds&order=asc").content.decode()
    assert "sorted by duration_seconds (ascending)" in by_duration
    by_loss = client.get(f"/experiments/runs/{finished.pk}/live/?sort=log_loss").content.decode()
    assert "sorted by log_loss (ascending)" in by_loss


def test_a_running_run_polls_and_stops_polling_with_a_reload_when_it_ends(team, finished, client_for):
    Run.objects.filter(pk=finished.pk).update(status="running", finished_at=None)
    client = client_for(team.carol)
    live = client.get(f"/experiments/runs/{finished.pk}/live/?live=1").content.decode()
    assert 'hx-trigger="every 2s"' in live
    assert '<div id="run-guardrails" data-testid="run-guardrails" hx-swap-oob="true">' in live
    assert "The guardrails appear as soon as the worker has checked the data." in live
    Run.objects.filter(pk=finished.pk).update(guardrails=[
        {"name": "class_imbalance", "status": "passed", "description": "Classes are balanced enough.", "parameters": {}}])
    live = client.get(f"/experiments/runs/{finished.pk}/live/?live=1").content.decode()
    assert "Class imbalance" in live and "Classes are balanced enough." in live
    Run.objects.filter(pk=finished.pk).update(status="completed")
    response = client.get(f"/experiments/runs/{finished.pk}/live/?live=1")
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_trial_page_has_every_metric_and_the_classification_charts(team, finished, client_for):
    trial = finished.trials.get(number=0)
    html = client_for(team.carol).get(f"/experiments/trials/{trial.pk}/").content.decode()
    for key in ("confusion", "confusion_normalised", "roc", "precision_recall", "calibration", "lift", "gains"):
        assert f'data-testid="chart-{key}"' in html
    for metric in trial.metrics:
        assert f">{metric}<" in html
    assert "An editor can compute it." in html


def test_compare_shows_only_differences_when_asked(team, finished, client_for):
    a, b = finished.trials.order_by("number")[:2]
    client = client_for(team.carol)
    url = f"/experiments/runs/{finished.pk}/compare/?trial={a.pk}&trial={b.pk}"
    everything = client.get(url).content.decode()
    assert ">featurization<" in everything  # the same for both: shown in full view only
    only = client.get(url + "&only_differences=1").content.decode()
    assert ">featurization<" not in only and ">pipeline<" in only and ">n_estimators<" in only


def test_config_download_is_yaml_with_the_dataset_named(team, finished, client_for):
    response = client_for(team.carol).get(f"/experiments/runs/{finished.pk}/config.yml")
    text = response.content.decode()
    assert response["Content-Type"].startswith("application/yaml")
    assert "experiment_name: bank-small" in text and "name: bank-small\n  version: 1" in text
    assert "max_trials: 3" in text


# --- The wizard ---------------------------------------------------------------------------------------


def _post(client, step, data):
    return client.post(f"/experiments/new/{step}/", data)


def _to_settings(client, version, task="classification", target="y"):
    client.get("/experiments/new/")
    assert _post(client, "basics", {"name": "wizard-run", "description": "", "tags": "team=risk"}).status_code == 302
    response = _post(client, "data", {"dataset": version.dataset_id, "task": task, "target_column": target,
                                      "positive_label": ""})
    return response


SETTINGS = {"primary_metric": "AUC_weighted", "validation_type": "auto", "n_cross_validations": "5",
            "validation_size": "20", "test_type": "none", "test_size": "10", "featurization_mode": "auto",
            "enable_vote_ensemble": "on", "enable_stack_ensemble": "on", "enable_model_explainability": "on"}


def test_wizard_rejects_regression_on_a_text_target_next_to_the_task(team, bank_small, client_for):
    response = _to_settings(client_for(team.bob), bank_small, task="regression", target="job")
    assert response.status_code == 200
    assert response.context["form"].errors["task"] == [
        "Regression needs a numeric target, but 'job' is categorical. Choose classification, or a numeric target "
        "column."]
    assert 'data-testid="error-task"' in response.content.decode()


def test_wizard_rejects_a_metric_that_does_not_fit_the_task(team, bank_small, client_for):
    client = client_for(team.bob)
    assert _to_settings(client, bank_small).status_code == 302
    response = _post(client, "settings", {**SETTINGS, "primary_metric": "r2_score"})
    assert response.status_code == 200
    form = response.context["form"]
    # Only the task's metrics are offered; a forged regression metric is refused by the form itself.
    assert [value for value, _ in form.fields["primary_metric"].choices] == [
        "accuracy", "AUC_weighted", "average_precision_score_weighted", "norm_macro_recall",
        "precision_score_weighted", "log_loss"]
    assert form.errors["primary_metric"] == [
        "Select a valid choice. r2_score is not one of the available choices."]


def test_wizard_rejects_more_folds_than_rows(team, make_version, client_for):
    tiny = make_version("machine_full_209rows.csv", name="tiny", rows=12)
    client = client_for(team.bob)
    assert _to_settings(client, tiny, task="regression", target="ERP").status_code == 302
    response = _post(client, "settings", {**SETTINGS, "primary_metric": "r2_score", "validation_type": "kfold",
                                          "n_cross_validations": "20"})
    assert response.context["form"].errors["n_cross_validations"] == [
        "20 folds but only 12 training rows; use fewer folds."]


def test_the_positive_class_is_chosen_from_the_targets_values(team, bank_small, client_for):
    client = client_for(team.bob)
    client.get("/experiments/new/")
    _post(client, "basics", {"name": "wizard-run"})
    fragment = client.get(f"/experiments/new/columns/?dataset={bank_small.dataset_id}&target_column=y")
    assert fragment.context["form"].fields["positive_label"].choices == [
        ("", "Automatic: the second class in sorted order"), ("no", "no"), ("yes", "yes")]
    assert '<select name="positive_label"' in fragment.content.decode()
    response = _post(client, "data", {"dataset": bank_small.dataset_id, "task": "classification",
                                      "target_column": "y", "positive_label": "maybe"})
    assert response.context["form"].errors["positive_label"] == [
        "Select a valid choice. maybe is not one of the available choices."]
    assert _post(client, "data", {"dataset": bank_small.dataset_id, "task": "classification",
                                  "target_column": "y", "positive_label": "yes"}).status_code == 302
    assert client.session["experiment_wizard"]["spec"]["positive_label"] == "yes"


def test_wizard_walks_to_a_yaml_review_and_submits_a_queued_run(team, bank_small, client_for):
    client = client_for(team.bob)
    assert _to_settings(client, bank_small).status_code == 302
    include = {f"col-{i}-include": "on" for i in range(20) if i != 1}  # a browser omits unticked boxes
    assert _post(client, "settings", {**SETTINGS, "validation_type": "kfold", "n_cross_validations": "3",
                                      "featurization_mode": "custom", "col-0-type": "Numeric",
                                      "col-0-imputer": "median", **include}).status_code == 302
    assert _post(client, "limits", {"timeout_minutes": "5", "max_trials": "4", "max_concurrent_trials": "1",
                                    "enable_early_termination": "on"}).status_code == 302
    review = client.get("/experiments/new/review/").content.decode()
    assert "n_cross_validations: 3" in review and "job: Ignore" in review and "strategy: median" in review
    response = client.post("/experiments/new/review/")
    run = Run.objects.get(experiment__name="wizard-run")
    assert response.status_code == 302 and response["Location"] == f"/experiments/runs/{run.pk}/"
    assert run.status == "queued" and run.created_by == team.bob
    assert run.config["limits"]["max_trials"] == 4
    assert run.config["featurization"]["column_name_and_types"] == {"age": "Numeric", "job": "Ignore"}
    assert run.experiment.tags == {"team": "risk"}


def test_the_compute_step_offers_distributed_lightgbm_and_says_what_it_switches_off(team, bank_small, client_for):
    client = client_for(team.bob)
    assert _to_settings(client, bank_small).status_code == 302
    assert _post(client, "settings", {**SETTINGS, "validation_type": "kfold", "n_cross_validations": "3"}).status_code == 302
    page = client.get("/experiments/new/limits/").content.decode()
    assert "Distributed: LightGBM on a Dask cluster, trials one after another" in page
    assert ("Switched off in distributed mode:</strong> algorithms other than LightGBM, cross-validation (a holdout "
            "validates), vote and stack ensembles, model explanations, ONNX export and code generation, "
            "forecasting.") in page
    assert "a local Dask cluster started on the worker that runs the experiment (worker memory limit 2GiB)" in page
    limits = {"timeout_minutes": "5", "max_trials": "4", "max_concurrent_trials": "1", "training_mode": "distributed",
              "max_nodes": "3"}
    response = _post(client, "limits", limits)  # cross-validation chosen earlier: named, with its step
    assert response.context["form"].non_field_errors() == [
        "Task settings: Distributed training does not cross-validate: it validates on a holdout "
        "(validation_data_size or validation_data); leave n_cross_validations unset."]
    assert _post(client, "settings", {**SETTINGS, "validation_type": "holdout", "validation_size": "20"}).status_code == 302
    assert _post(client, "limits", limits).status_code == 302
    client.post("/experiments/new/review/")
    run = Run.objects.get(experiment__name="wizard-run")
    assert run.config["training"]["training_mode"] == "distributed" and run.config["limits"]["max_nodes"] == 3
    assert [run.config["training"][k] for k in ("enable_vote_ensemble", "enable_stack_ensemble",
                                                "enable_model_explainability")] == [False, False, False]
    assert run.is_distributed


def test_the_limits_step_sets_the_cores_per_trial_within_their_range(team, bank_small, client_for):
    client = client_for(team.bob)
    assert _to_settings(client, bank_small).status_code == 302
    assert _post(client, "settings", {**SETTINGS, "validation_type": "kfold", "n_cross_validations": "3"}).status_code == 302
    limits = {"timeout_minutes": "5", "max_trials": "4", "max_concurrent_trials": "2"}
    page = client.get("/experiments/new/limits/").content.decode()
    assert ("Threads each trial&#x27;s learner uses, between 1 and 256. Empty: the machine&#x27;s cores shared among "
            "the concurrent trials.") in page
    response = _post(client, "limits", {**limits, "max_cores_per_trial": "0"})
    assert response.context["form"].errors["max_cores_per_trial"] == [
        "Must be -1 (the machine's cores shared among the concurrent trials) or between 1 and 256 cores; 0 is not."]
    assert _post(client, "limits", {**limits, "max_cores_per_trial": ""}).status_code == 302
    assert "max_cores_per_trial" not in client.session["experiment_wizard"]["spec"]["limits"]
    assert _post(client, "limits", {**limits, "max_cores_per_trial": "1"}).status_code == 302
    client.post("/experiments/new/review/")
    run = Run.objects.get(experiment__name="wizard-run")
    assert (run.config["limits"]["max_cores_per_trial"], run.config["limits"]["max_concurrent_trials"]) == (1, 2)


def test_edit_and_resubmit_opens_the_review_prefilled_from_the_run(team, finished, client_for):
    client = client_for(team.bob)
    response = client.get(f"/experiments/runs/{finished.pk}/resubmit/")
    assert response["Location"] == "/experiments/new/review/"
    review = client.get("/experiments/new/review/").content.decode()
    assert "max_trials: 3" in review and "Edit and resubmit" in review
    limits = client.get("/experiments/new/limits/")
    assert limits.context["form"].initial["max_trials"] == 3
    client.post("/experiments/new/review/")
    assert list(Run.objects.filter(experiment=finished.experiment).values_list("number", flat=True).order_by("number")) == [1, 2]


def test_trial_charts_name_auc_and_ap_draw_chance_and_start_gains_at_the_origin():
    from automl_engine.metrics import classification_charts
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    from studio.experiments import reports

    rng = np.random.RandomState(1)
    y = np.array(["no", "yes"])[(rng.rand(400) < 0.3).astype(int)]
    p = np.clip((y == "yes") * 0.35 + rng.rand(400) * 0.65, 0, 1)
    charts = classification_charts(y, np.column_stack([1 - p, p]), ["no", "yes"], "yes")
    figures = {f["key"]: f["figure"] for f in reports.trial_figures("classification", charts)}
    # The figures come from the drawn (downsampled) curve: within 0.005 of the exact ones.
    roc = figures["roc"]["data"]
    assert roc[0]["name"].startswith("class yes (AUC ") and roc[1]["name"] == "chance (AUC 0.5)"
    assert abs(float(roc[0]["name"][15:-1]) - roc_auc_score(y == "yes", p)) < 0.005
    pr = figures["precision_recall"]["data"]
    assert pr[0]["name"].startswith("class yes (AP ")
    assert abs(float(pr[0]["name"][14:-1]) - average_precision_score(y == "yes", p)) < 0.005
    share = round(float(np.mean(y == "yes")), 4)
    assert pr[1]["name"] == f"chance (share of positives {share:.3f})" and pr[1]["y"] == [share, share]
    gains = figures["gains"]["data"][0]
    assert (gains["x"][0], gains["y"][0]) == (0, 0)
    assert all(f["layout"]["xaxis"]["automargin"] and f["layout"]["yaxis"]["automargin"] for f in figures.values())


def test_trial_page_has_its_log_featurization_guardrails_and_ensemble_members(team, finished, client_for):
    from studio.experiments.models import RunLog, Trial

    voting = finished.trials.get(algorithm="VotingEnsemble")
    Trial.objects.filter(pk=voting.pk).update(hyperparameters={"members": [1, 0], "weights": [0.75, 0.25]})
    RunLog.objects.create(run=finished, level="warning", message=f"trial {voting.number} VotingEnsemble: completed")
    RunLog.objects.create(run=finished, level="info", message="trial 1 LightGBM: completed")
    html = client_for(team.carol).get(f"/experiments/trials/{voting.pk}/").content.decode()
    members = html.split('data-testid="ensemble-members"')[1].split("</table>")[0]
    first, second = (finished.trials.get(number=n) for n in (1, 0))
    assert members.index(f'href="/experiments/trials/{first.pk}/">trial 1</a>') < \
        members.index(f'href="/experiments/trials/{second.pk}/">trial 0</a>')
    assert "0.750" in members and "0.250" in members
    log = html.split('data-testid="trial-log"')[1].split("</div></div>")[0]
    assert f"trial {voting.number} VotingEnsemble: completed" in log and "trial 1 LightGBM" not in log
    assert '<span class="log-time">' in log
    assert 'data-testid="trial-tab-featurization"' in html and 'data-testid="run-guardrails"' in html


def test_home_lists_recent_runs_models_and_endpoints_with_quick_actions_for_editors(team, finished, client_for):
    Run.objects.filter(pk=finished.pk).update(status="running")
    html = client_for(team.bob).get("/").content.decode()
    runs = html.split('data-testid="recent-runs"')[1].split("</table>")[0]
    assert f'href="/experiments/runs/{finished.pk}/">{finished.experiment.name} #1</a>' in runs
    assert '<span class="badge status-badge status-running">Running</span>' in runs
    assert "No registered models yet." in html and "No endpoints yet." in html
    assert 'data-testid="quick-actions"' in html and 'href="/experiments/new/"' in html
    assert 'data-testid="quick-actions"' not in client_for(team.carol).get("/").content.decode()


def test_the_experiment_list_filters_by_tag_and_sorts(team, bank_small, client_for):
    from studio.experiments.models import Experiment

    for name, tags in (("beta", {"team": "risk"}), ("alpha", {"team": "ops"}), ("gamma", {"baseline": ""})):
        make_run(team.workspace, team.bob, bank_small, small_job(bank_small.dataset_id, name=name), n_trials=1,
                 ensembles=False)
        Experiment.objects.filter(name=name).update(tags=tags)
    client = client_for(team.carol)

    def names(query):
        return [r.experiment.name for r in client.get(f"/experiments/?{query}").context["page"]]

    assert names("") == ["gamma", "alpha", "beta"]  # newest first
    assert names("sort=name") == ["alpha", "beta", "gamma"]
    assert names("sort=oldest") == ["beta", "alpha", "gamma"]
    assert names("tag=team=risk") == ["beta"] and names("tag=team") == ["alpha", "beta"]
    assert names("tag=baseline") == ["gamma"]
