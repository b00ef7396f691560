"""Endpoint pages as owner, editor, viewer and outsider: deploy, Test tab, traffic, key rotation."""
import json

import pytest

from studio.registry import services as registry
from studio.serving import services
from studio.serving.models import Endpoint
from tests.studio.registry.factories import sample_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(team, bank_run):
    version = registry.register_version(trial=bank_run.trials.order_by("number").first(), name="bank", user=team.alice)
    endpoint, _ = services.create_endpoint(workspace=team.workspace, user=team.alice, name="bank-ep",
                                           model_version=version)
    return endpoint


@pytest.mark.parametrize("role,status", [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 404)])
def test_deploy_from_version_page_by_role(team, client_for, bank_run, role, status):
    version = registry.register_version(trial=bank_run.trials.first(), name="bank", user=team.alice)
    c = client_for(team.by_role(role))
    r = c.post(f"/endpoints/deploy/{version.model_id}/1/", {"endpoint": "", "name": "bank-ep", "description": "d"})
    assert r.status_code == status
    assert Endpoint.objects.filter(name="bank-ep").exists() == (status == 302)
    if status == 302:
        endpoint = Endpoint.objects.get()
        page = c.get(r["Location"]).content.decode()
        assert 'data-testid="new-key-value"' in page
        assert 'data-testid="new-key-value"' not in c.get(r["Location"]).content.decode()  # shown once


@pytest.mark.parametrize("role,status", [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)])
def test_endpoint_page_and_test_tab_by_role(team, client_for, endpoint, bank_models, role, status):
    c = client_for(team.by_role(role))
    page = c.get(f"/endpoints/{endpoint.pk}/")
    assert page.status_code == status
    r = c.post(f"/endpoints/{endpoint.pk}/test/", json.dumps({"data": sample_rows(bank_models)}),
               content_type="application/json")
    assert r.status_code == status
    if status == 200:
        html = page.content.decode()
        assert "http://testserver/api/v1/endpoints/bank-ep/score/" in html
        assert 'data-column="age" data-type="Numeric" value="57"' in html
        assert "curl -X POST" in html and "urllib.request" in html
        assert r.json()["predictions"][0] in ("no", "yes")


@pytest.mark.parametrize("role,status", [("owner", 302), ("editor", 302), ("viewer", 403), ("outsider", 404)])
def test_rotate_and_traffic_need_editor(team, client_for, endpoint, role, status):
    old = endpoint.key_hash
    c = client_for(team.by_role(role))
    assert c.post(f"/endpoints/{endpoint.pk}/key/").status_code == status
    endpoint.refresh_from_db()
    assert (endpoint.key_hash != old) == (status == 302)
    assert c.post(f"/endpoints/{endpoint.pk}/traffic/", {"traffic-bank-v1": "100"}).status_code == status


def test_endpoint_status_says_whether_requests_can_be_answered(team, client_for, endpoint, storage_dir):
    from studio.serving import runtime

    c = client_for(team.alice)

    def status():
        html = c.get(f"/endpoints/{endpoint.pk}/").content.decode()
        badge = html.split('data-testid="endpoint-status">', 1)[1].split("<", 1)[0]
        message = html.split('data-testid="endpoint-health">', 1)[1].split("</div>", 1)[0] if "endpoint-health" in html else ""
        return badge, message.replace('<i class="bi bi-exclamation-triangle"></i> ', "")

    assert status() == ("ready", "")
    deployment = endpoint.deployments.get()
    deployment.traffic_percent = 0
    deployment.save()
    assert status() == ("no traffic", "Requests get 503: give a deployment a traffic share.")
    deployment.traffic_percent = 100
    deployment.save()
    runtime.model_cache().clear()
    (storage_dir / deployment.model_version.file).unlink()
    badge, message = status()
    assert badge == "failing"
    assert message.startswith("Requests routed to bank-v1 get 503: the model file of this version is missing from "
                              "storage")
    deployment.delete()
    assert status() == ("no deployment", "Requests get 503: deploy a model version to this endpoint.")


def test_list_page_and_empty_state(team, client_for, endpoint):
    assert "bank-ep" in client_for(team.carol).get("/endpoints/").content.decode()
    assert "No endpoints yet" in client_for(team.dave).get("/endpoints/").content.decode()


def test_formula_safe_cells():
    assert [services.formula_safe(v) for v in ("=1+1", "+x", "-y", "@z", "\tq", "ok", -1.5, 3)] == [
        "'=1+1", "'+x", "'-y", "'@z", "'\tq", "ok", -1.5, 3]
