"""The endpoint API and the scoring route: keys, payload validation, predictions, traffic split, hash checks
and metrics."""
import json

import automl_engine
import numpy as np
import pandas as pd
import pytest

from studio.registry import services as registry
from studio.serving import runtime
from studio.serving.models import Endpoint, EndpointMinute, ScoringError
from tests.studio.registry.factories import sample_rows

pytestmark = pytest.mark.django_db


def _register(run, user, name="bank", ensemble=False, index=0):
    trial = list(run.trials.filter(is_ensemble=ensemble).order_by("number"))[index]
    return registry.register_version(trial=trial, name=name, user=user)


def _deploy(api, name="bank-ep", model="bank", version="1"):
    r = api.post("/api/v1/endpoints/", {"name": name, "model": model, "version": version}, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def _totals(deployment_name: str) -> dict:
    """Counters of one deployment summed over minutes (a test may straddle a minute boundary)."""
    from django.db.models import Sum

    rows = EndpointMinute.objects.filter(deployment_name=deployment_name)
    totals = rows.aggregate(requests=Sum("requests"), rows=Sum("rows"), client_errors=Sum("client_errors"),
                            server_errors=Sum("server_errors"))
    totals["latency_buckets"] = sum(sum(r.latency_buckets) for r in rows)
    return totals


def _score(client, name, key, body, **headers):
    extra = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key is not None else {}
    extra.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/api/v1/endpoints/{name}/score/", data=data, content_type="application/json", **extra)


def test_create_endpoint_returns_url_and_key_once_and_stores_only_its_hash(team, api_for, bank_run):
    _register(bank_run, team.alice)
    body = _deploy(api_for(team.bob))
    assert body["name"] == "bank-ep"
    assert body["scoring_url"] == "http://testserver/api/v1/endpoints/bank-ep/score/"
    key = body["key"]
    assert len(key) == 43
    endpoint = Endpoint.objects.get()
    assert endpoint.key_hash != key and key not in json.dumps(list(Endpoint.objects.values()), default=str)
    assert endpoint.key_prefix == key[:8]
    assert body["deployments"] == [{"name": "bank-v1", "model": "bank", "version": 1, "traffic_percent": 100}]
    assert "key" not in api_for(team.carol).get("/api/v1/endpoints/bank-ep/").json()


def test_endpoint_names_are_checked_and_unique_across_workspaces(team, api_for, bank_run):
    _register(bank_run, team.alice)
    api = api_for(team.alice)
    r = api.post("/api/v1/endpoints/", {"name": "Bank EP", "model": "bank", "version": "1"}, format="json")
    assert r.status_code == 400
    assert r.json()["name"][0].startswith("'Bank EP' is not a valid endpoint name")
    _deploy(api)
    r = api.post("/api/v1/endpoints/", {"name": "bank-ep", "model": "bank", "version": "1"}, format="json")
    assert r.status_code == 400
    assert "is taken. Endpoint names are unique across the studio" in r.json()["name"][0]
    r = api.post("/api/v1/endpoints/", {"name": "other", "model": "nope", "version": "1"}, format="json")
    assert r.json() == {"model": ["No registered model named 'nope' in this workspace; see /api/v1/models/."]}
    assert api_for(team.carol).post("/api/v1/endpoints/", {"name": "x-ep", "model": "bank", "version": "1"},
                                    format="json").status_code == 403
    assert api_for(team.dave).get("/api/v1/endpoints/bank-ep/").status_code == 404


def test_score_returns_the_pipelines_predictions_and_probabilities_with_labels(team, api_for, bank_run, bank_models,
                                                                              client, storage_dir):
    version = _register(bank_run, team.alice)
    key = _deploy(api_for(team.alice))["key"]
    rows = sample_rows(bank_models, 3)
    r = _score(client, "bank-ep", key, {"data": rows}, x_request_id="req-1")
    assert r.status_code == 200, r.content
    body = r.json()
    pipeline = automl_engine.load_model(storage_dir / version.file, version.sha256)
    frame = pd.DataFrame(rows)
    expected_proba = pipeline.predict_proba(frame)
    assert body["classes"] == ["no", "yes"]
    assert body["predictions"] == list(pipeline.predict(frame))
    assert [list(p) for p in body["probabilities"]] == [["no", "yes"]] * 3
    assert np.allclose([[p["no"], p["yes"]] for p in body["probabilities"]], expected_proba, atol=1e-6)
    assert r["X-Deployment"] == "bank-v1" and r["X-Model-Version"] == "1" and r["X-Request-ID"] == "req-1"


def test_regression_scores_numbers(team, api_for, hardware_run, hardware_models, client, storage_dir):
    version = _register(hardware_run, team.alice, name="hardware")
    key = _deploy(api_for(team.alice), name="hw-ep", model="hardware")["key"]
    names = [c["name"] for c in version.input_schema]
    assert "ModelName" not in names  # id-like: the engine drops it, so the schema does not ask for it
    rows = [{n: row[n] for n in names} for row in sample_rows(hardware_models, 2)]
    r = _score(client, "hw-ep", key, {"data": rows})
    assert r.status_code == 200, r.content
    body = r.json()
    pipeline = automl_engine.load_model(storage_dir / version.file, version.sha256)
    assert set(body) == {"predictions"}
    assert np.allclose(body["predictions"], pipeline.predict(pd.DataFrame(rows)))


def test_key_auth_missing_wrong_and_rotated(team, api_for, bank_run, bank_models, client):
    _register(bank_run, team.alice)
    key = _deploy(api_for(team.alice))["key"]
    body = {"data": sample_rows(bank_models)}
    r = _score(client, "bank-ep", None, body)
    assert r.status_code == 401 and r["WWW-Authenticate"] == 'Bearer realm="scoring"'
    assert r.json() == {"detail": "Missing endpoint key: send the header 'Authorization: Bearer <key>'."}
    r = _score(client, "bank-ep", key + "x", body)
    assert r.status_code == 401
    assert r.json()["detail"].startswith("The endpoint key is not valid")
    r = client.post("/api/v1/endpoints/bank-ep/score/", data=json.dumps(body), content_type="application/json",
                    HTTP_AUTHORIZATION=f"Token {key}")
    assert r.status_code == 401
    # An unknown name answers as an existing one does without its key, so names cannot be enumerated.
    for name in ("nope-ep", "bank-ep"):
        r = _score(client, name, "guess", body)
        assert (r.status_code, r.json()) == (401, {"detail": "The endpoint key is not valid (keys stop working when "
                                                             "rotated); use the current key."})
        r = _score(client, name, None, body)
        assert (r.status_code, r.json()["detail"]) == (401, "Missing endpoint key: send the header "
                                                            "'Authorization: Bearer <key>'.")
    assert api_for(team.carol).post("/api/v1/endpoints/bank-ep/key/").status_code == 403
    new = api_for(team.bob).post("/api/v1/endpoints/bank-ep/key/").json()["key"]
    assert new != key
    assert _score(client, "bank-ep", key, body).status_code == 401
    assert _score(client, "bank-ep", new, body).status_code == 200


def test_bad_payloads_get_422_with_details_per_row_and_column(team, api_for, bank_run, bank_models, client):
    _register(bank_run, team.alice)
    key = _deploy(api_for(team.alice))["key"]
    good = sample_rows(bank_models, 2)

    r = _score(client, "bank-ep", key, {"data": []})
    assert r.status_code == 422
    assert r.json()["detail"].startswith('"data" is empty')
    r = _score(client, "bank-ep", key, {"rows": good})
    assert r.status_code == 422 and r.json()["errors"] == [{"row": None, "column": None, "message": 'missing "data"'}]
    r = _score(client, "bank-ep", key, b"{not json")
    assert r.status_code == 400 and r.json()["detail"].startswith("The body is not valid JSON")
    r = _score(client, "bank-ep", key, {"data": {"age": 1}})
    assert r.status_code == 422 and r.json()["detail"] == (
        '"data" must be a list of row objects such as [{"column": value}], not object')

    missing = [dict(good[0]), dict(good[1])]
    del missing[1]["age"]
    missing[1]["agee"] = 41
    r = _score(client, "bank-ep", key, {"data": missing})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"row": 1, "column": "age", "message": "missing column; send null if the value is unknown"},
        {"row": 1, "column": "agee", "message": "unknown column; the model's input columns are listed in its schema"}]
    assert r.json()["detail"] == ("The input does not match the model's schema: 2 problems with a column. "
                                  "Fix the rows listed in errors and send them again.")

    typed = [dict(good[0]), dict(good[1]), 7]
    typed[0]["duration"] = "long"
    typed[1]["job"] = {"x": 1}
    r = _score(client, "bank-ep", key, {"data": typed})
    assert r.json()["errors"] == [  # every problem of the request at once, by row
        {"row": 0, "column": "duration", "message": "expects a number (or null), got string 'long'"},
        {"row": 1, "column": "job", "message": "expects a string, number or boolean (or null), got object {'x': 1}"},
        {"row": 2, "column": None, "message": "each row must be an object of column: value, not number"}]
    r = _score(client, "bank-ep", key, {"data": typed[:2]})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"row": 0, "column": "duration", "message": "expects a number (or null), got string 'long'"},
        {"row": 1, "column": "job", "message": "expects a string, number or boolean (or null), got object {'x': 1}"}]

    nulls = [dict(good[0])]
    nulls[0]["age"] = None
    assert _score(client, "bank-ep", key, {"data": nulls}).status_code == 200

    # The body is read for the model of the deployment the request was routed to, so every refusal counts there.
    assert _totals("bank-v1")["client_errors"] == 7
    assert not EndpointMinute.objects.filter(deployment_name="").exists()
    assert ScoringError.objects.filter(status_code=422).count() == 6
    assert ScoringError.objects.filter(status_code=400).count() == 1


def test_what_orjson_refuses_is_parsed_as_before(team, api_for, bank_run, bank_models, client):
    _register(bank_run, team.alice)
    key = _deploy(api_for(team.alice))["key"]
    row = json.dumps(sample_rows(bank_models, 1)[0])
    r = _score(client, "bank-ep", key, '{"data": [' + row[:-1] + ', "age": Infinity}]}')
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"row": 0, "column": "age", "message": "infinite number; send a finite number or null"}]
    r = _score(client, "bank-ep", key, '{"data": [' + row[:-1] + ', "age": NaN}]}')
    assert r.status_code == 200 and len(r.json()["predictions"]) == 1
    r = _score(client, "bank-ep", key, '{"data": [' + row[:-1] + ', "age": 123456789012345678901234567890}]}')
    assert r.status_code == 200
    r = _score(client, "bank-ep", key, '{"data": [' + row[:-1] + ', "age": 41,}]}')
    assert r.status_code == 400
    assert r.json()["detail"].startswith(
        "The body is not valid JSON (Expecting property name enclosed in double quotes")


def test_hostile_bodies_get_a_400_with_a_message_never_a_5xx(team, api_for, bank_run, bank_models, client):
    _register(bank_run, team.alice)
    key = _deploy(api_for(team.alice))["key"]
    row = json.dumps(sample_rows(bank_models, 1)[0])
    r = _score(client, "bank-ep", key, '{"data": [' + row[:-1] + ', "age": ' + "9" * 400 + '}]}')
    assert r.status_code == 400
    assert r.json()["detail"] == ("The body is not valid JSON (a number has 400 digits, more than the 40 a value "
                                  'may have); send {"data": [{"column": value}]}.')
    r = _score(client, "bank-ep", key, '{"data": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert r.status_code == 400
    assert r.json()["detail"] == ("The body is not valid JSON (it is nested too deeply; rows are objects of plain "
                                  'values); send {"data": [{"column": value}]}.')
    r = _score(client, "bank-ep", key, {"data": [{**json.loads(row), "age": [[[[1]]]]}]})
    assert r.status_code == 422


def test_traffic_split_routes_deterministically_and_sums_to_100(team, api_for, bank_run, bank_models, client):
    _register(bank_run, team.alice, index=0)
    _register(bank_run, team.alice, index=1)
    api = api_for(team.bob)
    key = _deploy(api)["key"]
    r = api.post("/api/v1/endpoints/bank-ep/deployments/", {"model": "bank", "version": "2", "traffic_percent": 10},
                 format="json")
    assert r.status_code == 201, r.content
    assert {d["name"]: d["traffic_percent"] for d in r.json()["deployments"]} == {"bank-v1": 90, "bank-v2": 10}
    r = api.post("/api/v1/endpoints/bank-ep/traffic/", {"traffic": {"bank-v1": 80, "bank-v2": 30}}, format="json")
    assert r.status_code == 400
    assert r.json() == {"traffic": ["The traffic shares add up to 110 %; they must add up to exactly 100 %."]}
    r = api.post("/api/v1/endpoints/bank-ep/traffic/", {"traffic": {"bank-v3": 100}}, format="json")
    assert r.json() == {"traffic": ["No deployment named 'bank-v3' on bank-ep; its deployments are bank-v1, bank-v2."]}
    assert api_for(team.carol).post("/api/v1/endpoints/bank-ep/traffic/", {"traffic": {"bank-v1": 100}},
                                    format="json").status_code == 403

    body = {"data": sample_rows(bank_models)}
    ids = [f"request-{i}" for i in range(60)]
    expected = {i: ("bank-v1" if runtime.traffic_bucket(i) < 90 else "bank-v2") for i in ids}
    seen = {i: _score(client, "bank-ep", key, body, x_request_id=i)["X-Deployment"] for i in ids}
    assert seen == expected
    assert set(seen.values()) == {"bank-v1", "bank-v2"}
    assert _score(client, "bank-ep", key, body, x_deployment="bank-v2")["X-Model-Version"] == "2"

    r = api.post("/api/v1/endpoints/bank-ep/traffic/", {"traffic": {"bank-v1": 0, "bank-v2": 100}}, format="json")
    assert r.json()["traffic"] == {"bank-v1": 0, "bank-v2": 100}
    assert {_score(client, "bank-ep", key, body, x_request_id=i)["X-Deployment"] for i in ids} == {"bank-v2"}
    per_deployment = {name: _totals(name)["requests"] for name in ("bank-v1", "bank-v2")}
    routed_to_v2 = list(expected.values()).count("bank-v2")
    assert per_deployment == {"bank-v1": 60 - routed_to_v2, "bank-v2": routed_to_v2 + 1 + 60}


def test_ensembles_deploy_and_score(team, api_for, bank_run, bank_models, client):
    _register(bank_run, team.alice, ensemble=True)
    key = _deploy(api_for(team.alice))["key"]
    body = _score(client, "bank-ep", key, {"data": sample_rows(bank_models, 2)}).json()
    assert len(body["predictions"]) == 2 and set(body["predictions"]) <= {"no", "yes"}


def test_tampered_registry_artifact_is_refused_with_a_clear_error(team, api_for, bank_run, bank_models, client,
                                                                 storage_dir):
    version = _register(bank_run, team.alice)
    key = _deploy(api_for(team.alice))["key"]
    body = {"data": sample_rows(bank_models)}
    runtime.model_cache().clear()
    path = storage_dir / version.file
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    r = _score(client, "bank-ep", key, body)
    assert r.status_code == 503
    detail = r.json()["detail"]
    assert detail.startswith("Deployment bank-v1 cannot serve: model file failed its integrity check and was not "
                             "loaded:")
    assert f"expected {version.sha256}" in detail and "Register the trial again" in detail
    assert "model.pkl has sha256" in detail and str(storage_dir) not in detail  # no server paths
    assert ScoringError.objects.get(status_code=503).message == detail
    r = api_for(team.alice).post("/api/v1/endpoints/", {"name": "second-ep", "model": "bank", "version": "1"},
                                 format="json")
    assert r.status_code == 400 and "failed its integrity check" in r.json()["detail"]


def test_models_are_loaded_once_per_process(team, api_for, bank_run, bank_models, client):
    _register(bank_run, team.alice)
    key = _deploy(api_for(team.alice))["key"]
    cache = runtime.model_cache()
    loads = cache.loads
    for _ in range(3):
        assert _score(client, "bank-ep", key, {"data": sample_rows(bank_models)}).status_code == 200
    assert cache.loads == loads  # the deploy already loaded and verified it


def test_a_scoring_request_reads_its_endpoint_and_deployments_in_one_query(team, api_for, bank_run,
                                                                             django_assert_num_queries):
    from studio.serving.services import _endpoint_for_scoring

    _register(bank_run, team.alice, index=0)
    _register(bank_run, team.alice, index=1)
    api = api_for(team.alice)
    _deploy(api)
    api.post("/api/v1/endpoints/bank-ep/deployments/", {"model": "bank", "version": "2", "traffic_percent": 25},
             format="json")
    key_hash = Endpoint.objects.get().key_hash
    with django_assert_num_queries(1):
        endpoint, deployments = _endpoint_for_scoring("bank-ep")
        assert endpoint.name == "bank-ep" and endpoint.key_hash == key_hash
        assert [(d.name, d.traffic_percent, d.model_version.version) for d in deployments] == [
            ("bank-v1", 75, 1), ("bank-v2", 25, 2)]
    with django_assert_num_queries(2):
        assert _endpoint_for_scoring("nope-ep") == (None, [])
    Endpoint.objects.get().deployments.all().delete()
    endpoint, deployments = _endpoint_for_scoring("bank-ep")
    assert endpoint.name == "bank-ep" and deployments == []


def test_served_models_predict_on_the_configured_number_of_threads(team, bank_run, bank_models, storage_dir):
    from threadpoolctl import threadpool_info

    version = _register(bank_run, team.alice, ensemble=True)

    def describe():
        return storage_dir / version.file, version.input_schema, ["no", "yes"]

    model = runtime.ModelCache(predict_threads=3).get(version.pk, version.sha256, describe)
    members = model.pipeline.named_steps["ensemble"].estimators
    lightgbm = [m.steps[-1][1] for m in members if type(m.steps[-1][1]).__name__ == "LGBMClassifier"]
    assert lightgbm and [e.n_jobs for e in lightgbm] == [3] * len(lightgbm)

    model = runtime.ModelCache(predict_threads=1).get(version.pk, version.sha256, describe)
    assert [e.n_jobs for m in model.pipeline.named_steps["ensemble"].estimators for e in [m.steps[-1][1]]
            if type(e).__name__ == "LGBMClassifier"] == [1] * len(lightgbm)
    with runtime._thread_budget(model):
        pools = threadpool_info()
    assert pools and {p["num_threads"] for p in pools} == {1}
    frame = runtime.columns_from_records(sample_rows(bank_models, 3), model.schema, 10).frame()
    assert runtime.predict(model, frame)["predictions"] == list(model.pipeline.predict(frame))


def test_metrics_count_requests_rows_and_errors(team, api_for, bank_run, bank_models, client):
    _register(bank_run, team.alice)
    key = _deploy(api_for(team.alice))["key"]
    for n in (1, 5):
        _score(client, "bank-ep", key, {"data": sample_rows(bank_models, n)})
    _score(client, "bank-ep", key, {"data": []})
    _score(client, "bank-ep", "wrong", {"data": []})
    totals = _totals("bank-v1")
    assert (totals["requests"], totals["rows"], totals["client_errors"], totals["server_errors"]) == (3, 6, 1, 0)
    assert totals["latency_buckets"] == 3
    auth = _totals("")
    assert (auth["requests"], auth["client_errors"]) == (1, 1)
    from studio.serving.services import endpoint_metrics

    summary = endpoint_metrics(Endpoint.objects.get())
    assert {k: summary["totals"][k] for k in ("requests", "rows", "client_errors", "server_errors")} == {
        "requests": 4, "rows": 6, "client_errors": 2, "server_errors": 0}
    assert len(summary["series"]["minute"]) == 60 and sum(summary["series"]["requests"]) == 4


def test_a_10000_row_request_larger_than_the_form_limit_is_scored(team, api_for, bank_run, bank_models, client,
                                                                  settings):
    _register(bank_run, team.alice)
    key = _deploy(api_for(team.alice))["key"]
    rows = (sample_rows(bank_models, 300) * 34)[:10_000]
    body = json.dumps({"data": rows})
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    r = _score(client, "bank-ep", key, body)
    assert r.status_code == 200
    assert len(r.json()["predictions"]) == 10_000
    settings.STUDIO_SERVING_MAX_BODY_BYTES = 1000
    r = _score(client, "bank-ep", key, body)
    assert r.status_code == 413
    assert r.json()["detail"] == (f"The body is {len(body):,} bytes, above the 1,000-byte limit; split the rows into "
                                  "several requests or use batch scoring.")
