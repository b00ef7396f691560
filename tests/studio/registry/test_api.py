"""The registry's REST API: registering trials (ensembles too), versions, aliases, hash checks and access."""
import hashlib

import pytest

from studio.registry.models import ModelVersion, RegisteredModel

pytestmark = pytest.mark.django_db


def _trial(run, ensemble=False):
    return run.trials.filter(is_ensemble=ensemble).order_by("number").first()


def test_register_creates_version_one_then_two_with_verified_copy(team, api_for, bank_run, storage_dir):
    api = api_for(team.bob)
    first, ensemble = _trial(bank_run), _trial(bank_run, ensemble=True)
    r1 = api.post("/api/v1/models/", {"trial": first.pk, "name": "bank-marketing", "description": "# Bank",
                                      "tags": ["churn", "q3"]}, format="json")
    assert r1.status_code == 201, r1.content
    assert (r1.json()["name"], r1.json()["version"]) == ("bank-marketing", 1)
    r2 = api.post("/api/v1/models/", {"trial": ensemble.pk, "name": "bank-marketing"}, format="json")
    assert r2.status_code == 201, r2.content
    assert r2.json()["version"] == 2 and r2.json()["is_ensemble"] is True
    v1, v2 = ModelVersion.objects.order_by("version")
    assert v1.sha256 == first.sha256 and v2.sha256 == ensemble.sha256
    copy = storage_dir / v1.file
    assert copy != storage_dir / first.model_file
    assert hashlib.sha256(copy.read_bytes()).hexdigest() == first.sha256
    assert (copy.parent / "manifest.json").exists()
    assert [c["name"] for c in v1.input_schema][:3] == ["age", "job", "marital"]
    assert v1.class_labels == ["no", "yes"]
    assert v1.sample_input["age"] == 57 and v1.sample_input["job"] == "technician"
    assert "y" not in v1.sample_input
    model = RegisteredModel.objects.get()
    assert model.tags == ["churn", "q3"] and model.workspace == team.workspace
    assert not list(copy.parent.glob(".*.tmp"))


def test_register_refuses_a_tampered_trial_file(team, api_for, bank_run, storage_dir):
    trial = _trial(bank_run)
    path = storage_dir / trial.model_file
    path.write_bytes(path.read_bytes() + b"tampered")
    before = set((storage_dir / "registry").rglob("*")) if (storage_dir / "registry").exists() else set()
    r = api_for(team.bob).post("/api/v1/models/", {"trial": trial.pk, "name": "bank"}, format="json")
    assert r.status_code == 400
    assert r.json()["trial"][0].startswith(f"Trial {trial.number}'s model file failed its integrity check:")
    assert ModelVersion.objects.count() == 0
    assert set((storage_dir / "registry").rglob("*")) - before == set()


def test_register_rejects_bad_names_and_unknown_trials_with_clear_messages(team, api_for, bank_run):
    api = api_for(team.bob)
    r = api.post("/api/v1/models/", {"trial": _trial(bank_run).pk, "name": "bad name!"}, format="json")
    assert r.status_code == 400
    assert r.json()["name"][0].startswith("'bad name!' is not a valid model name")
    r = api.post("/api/v1/models/", {"trial": 999999, "name": "bank"}, format="json")
    assert r.status_code == 400
    assert r.json()["trial"][0].startswith("No trial 999999 in this workspace")


def test_register_needs_editor_and_hides_other_workspaces(team, api_for, bank_run):
    trial = _trial(bank_run)
    r = api_for(team.carol).post("/api/v1/models/", {"trial": trial.pk, "name": "bank"}, format="json")
    assert r.status_code == 403
    r = api_for(team.dave).post(f"/api/v1/models/?workspace={team.workspace.pk}",
                                {"trial": trial.pk, "name": "bank"}, format="json")
    assert r.status_code == 404
    r = api_for(team.dave).post("/api/v1/models/", {"trial": trial.pk, "name": "bank"}, format="json")
    assert r.status_code == 400  # his own workspace has no such trial
    assert ModelVersion.objects.count() == 0


def test_list_models_and_versions_and_move_aliases(team, api_for, bank_run):
    api = api_for(team.alice)
    for trial in bank_run.trials.order_by("number")[:2]:
        assert api.post("/api/v1/models/", {"trial": trial.pk, "name": "bank"}, format="json").status_code == 201
    r = api.post("/api/v1/models/bank/aliases/", {"alias": "champion", "version": "1"}, format="json")
    assert r.status_code == 200 and r.json()["aliases"] == {"champion": 1}
    r = api.post("/api/v1/models/bank/aliases/", {"alias": "champion", "version": "2"}, format="json")
    assert r.json()["aliases"] == {"champion": 2}
    r = api.post("/api/v1/models/bank/aliases/", {"alias": "challenger", "version": "champion"}, format="json")
    assert r.json()["aliases"] == {"challenger": 2, "champion": 2}
    r = api.post("/api/v1/models/bank/aliases/", {"alias": "champion", "version": "7"}, format="json")
    assert r.status_code == 400
    assert r.json()["version"] == ["bank has no version '7'; its versions are 1, 2 and its aliases challenger, champion."]
    r = api.post("/api/v1/models/bank/aliases/", {"alias": "Bad Alias", "version": "1"}, format="json")
    assert r.status_code == 400 and "not a valid alias" in r.json()["alias"][0]

    listing = api_for(team.carol).get("/api/v1/models/").json()
    assert listing["count"] == 1
    assert {k: listing["results"][0][k] for k in ("name", "latest_version", "versions", "aliases")} == {
        "name": "bank", "latest_version": 2, "versions": 2, "aliases": {"challenger": 2, "champion": 2}}
    versions = api_for(team.carol).get("/api/v1/models/bank/versions/").json()
    assert [v["version"] for v in versions["results"]] == [2, 1]
    assert versions["results"][0]["aliases"] == ["challenger", "champion"]
    assert api_for(team.carol).get("/api/v1/models/bank/versions/champion/").json()["version"] == 2
    assert api_for(team.carol).post("/api/v1/models/bank/aliases/", {"alias": "x", "version": "1"},
                                    format="json").status_code == 403
    assert api_for(team.dave).get("/api/v1/models/bank/versions/").status_code == 404
    assert api_for(team.dave).get(f"/api/v1/models/bank/versions/?workspace={team.workspace.pk}").status_code == 404
    assert api.delete("/api/v1/models/bank/aliases/challenger/").status_code == 204
    assert api.get("/api/v1/models/bank/aliases/").json() == {"champion": 2}


def test_search_and_tag_filter(team, api_for, bank_run):
    api = api_for(team.alice)
    trial = _trial(bank_run)
    api.post("/api/v1/models/", {"trial": trial.pk, "name": "bank", "tags": ["marketing"]}, format="json")
    api.post("/api/v1/models/", {"trial": trial.pk, "name": "other", "description": "credit risk"}, format="json")
    names = lambda q: [m["name"] for m in api.get(f"/api/v1/models/?{q}").json()["results"]]  # noqa: E731
    assert sorted(names("")) == ["bank", "other"]
    assert names("search=credit") == ["other"]
    assert names("tag=marketing") == ["bank"]
