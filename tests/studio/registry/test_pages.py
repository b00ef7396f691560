"""Registry pages as owner, editor, viewer and outsider; Markdown is rendered safely."""
import pytest

from studio.registry import services
from studio.registry.models import ModelAlias, ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_versions(team, bank_run):
    trials = list(bank_run.trials.order_by("number"))
    v1 = services.register_version(trial=trials[0], name="bank", user=team.alice, tags=["churn"],
                                   description="**Bold** <script>alert('x')</script> [link](javascript:alert(1))")
    v2 = services.register_version(trial=trials[-1], name="bank", user=team.bob)
    return v1, v2


@pytest.mark.parametrize("role,status", [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)])
def test_model_version_and_compare_pages_by_role(team, client_for, two_versions, role, status):
    v1, v2 = two_versions
    c = client_for(team.by_role(role))
    pk = v1.model_id
    for url in (f"/models/{pk}/", f"/models/{pk}/versions/1/", f"/models/{pk}/compare/?v=1&v=2",
                f"/models/{pk}/versions/2/download/"):
        assert c.get(url).status_code == status, url


@pytest.mark.parametrize("role,status", [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 404)])
def test_changing_aliases_needs_editor(team, client_for, two_versions, role, status):
    v1, _ = two_versions
    r = client_for(team.by_role(role)).post(f"/models/{v1.model_id}/aliases/", {"alias": "champion", "version": 2})
    assert r.status_code == status
    assert ModelAlias.objects.filter(name="champion").exists() == (status == 302)


def test_list_shows_latest_version_aliases_and_tags_and_filters(team, client_for, two_versions):
    v1, v2 = two_versions
    services.set_alias(v1.model, "champion", 2, team.alice)
    page = client_for(team.carol).get("/models/").content.decode()
    assert 'href="/models/%d/versions/2/">v2</a>' % v1.model_id in page
    assert "@champion → v2" in page and ">churn</a>" in page
    assert client_for(team.carol).get("/models/?q=nothing").content.decode().count("No models match") == 1
    empty = client_for(team.dave).get("/models/").content.decode()
    assert "No registered models yet" in empty


def test_markdown_description_is_rendered_without_scripts(team, client_for, two_versions):
    v1, _ = two_versions
    page = client_for(team.alice).get(f"/models/{v1.model_id}/").content.decode()
    start = page.index('data-testid="model-description">')
    description = page[start:page.index("</div>", start)]
    assert "<p><strong>Bold</strong> alert('x') <a>link</a></p>" in description
    assert "<script>alert" not in page.replace("&lt;script&gt;", "")


def test_version_page_shows_schema_metrics_lineage_and_download_verifies_hash(team, client_for, two_versions,
                                                                             storage_dir):
    v1, _ = two_versions
    c = client_for(team.alice)
    page = c.get(f"/models/{v1.model_id}/versions/1/").content.decode()
    assert 'data-testid="schema-table"' in page and ">duration</td>" in page
    assert "not deployed" in page and str(v1.trial.run) in page
    response = c.get(f"/models/{v1.model_id}/versions/1/download/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == (storage_dir / v1.file).read_bytes()
    (storage_dir / v1.file).write_bytes(b"not a model")
    response = c.get(f"/models/{v1.model_id}/versions/1/download/", follow=True)
    assert "was modified or corrupted and will not be served or downloaded" in response.content.decode()


def test_register_page_registers_the_best_trial_and_refuses_viewers(team, client_for, bank_run):
    assert client_for(team.carol).get("/models/register/").status_code == 403
    assert client_for(team.dave).get("/models/register/").status_code == 200  # his own workspace: empty state
    assert "No trained models to register" in client_for(team.dave).get("/models/register/").content.decode()
    c = client_for(team.bob)
    page = c.get("/models/register/").content.decode()
    assert "★ best" in page
    r = c.post("/models/register/", {"trial": bank_run.best_trial_id, "name": "bank", "description": "", "tags": "a, b"})
    version = ModelVersion.objects.get()
    assert r.status_code == 302 and r["Location"] == f"/models/{version.model_id}/versions/1/"
    assert version.trial_id == bank_run.best_trial_id and version.model.tags == ["a", "b"]
    r = c.post("/models/register/", {"trial": bank_run.best_trial_id, "name": "bad name", "tags": ""})
    assert "is not a valid model name" in r.content.decode()


def test_trial_and_run_pages_link_to_registration_and_show_registered_versions(team, client_for, two_versions,
                                                                                bank_run):
    v1, _ = two_versions
    trial = v1.trial
    editor_page = client_for(team.bob).get(f"/experiments/trials/{trial.pk}/").content.decode()
    assert f'href="/models/register/?trial={trial.pk}"' in editor_page
    assert f'<a href="/models/{v1.model_id}/versions/1/">bank v1</a>' in editor_page
    viewer_page = client_for(team.carol).get(f"/experiments/trials/{trial.pk}/").content.decode()
    assert "/models/register/" not in viewer_page and "bank v1" in viewer_page
    run_page = client_for(team.bob).get(f"/experiments/runs/{bank_run.pk}/").content.decode()
    assert f'href="/models/register/?run={bank_run.pk}&amp;trial={bank_run.best_trial_id}"' in run_page


def test_the_models_list_sorts_by_name_or_latest_version(team, client_for, bank_run):
    from studio.registry import services as registry

    for name in ("alpha", "zeta"):
        registry.register_version(trial=bank_run.best_trial, name=name, user=team.alice)
    client = client_for(team.carol)
    assert [r["model"].name for r in client.get("/models/").context["rows"]] == ["alpha", "zeta"]
    assert [r["model"].name for r in client.get("/models/?sort=updated").context["rows"]] == ["zeta", "alpha"]
