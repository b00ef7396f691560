"""Scoring a forecasting model: future rows in, point forecasts with their 10%/90% quantiles, times and
series out; newer actuals in "history" move the origin; every bad row is answered with its row and column.

Models are the engine's own forecasters fitted on the real Dominick's orange juice series (stores 2, 5, 8)
with a 4-week horizon: Naive (per series) and DecisionTree (one global model on lags and covariates).
"""
from pathlib import Path

import pandas as pd
import pytest

from studio.serving import forecasting, runtime

OJ = Path(__file__).resolve().parents[3] / "examples" / "data" / "dominicks_OJ_2_5_8_train.csv"


@pytest.fixture(scope="module")
def sales():
    return pd.read_csv(OJ, parse_dates=["WeekStarting"])


def _fit(sales, algorithm):
    from automl_engine.forecasting.models import ForecastModel
    from automl_engine.forecasting.settings import make_forecast_settings

    settings = make_forecast_settings(time_column_name="WeekStarting", forecast_horizon=4,
                                      time_series_id_column_names=["Store", "Brand"])
    X = sales[["WeekStarting", "Store", "Brand", "Price", "Advert"]]
    return ForecastModel(settings, algorithm, target_column_name="Quantity").fit(X, sales["Quantity"])


@pytest.fixture(scope="module")
def naive(sales):
    return _fit(sales, "Naive")


@pytest.fixture(scope="module")
def tree(sales):
    return _fit(sales, "DecisionTree")


def row(week, store=2, brand="dominicks", **extra):
    return {"WeekStarting": week, "Store": store, "Brand": brand, **extra}


def score(model, payload):
    loaded = runtime.LoadedModel(1, "x", model, model.input_schema(), None)
    assert loaded.is_forecaster
    request = runtime.columns_from_body(runtime.orjson.dumps(payload), loaded, 1000)
    return runtime.predict(loaded, request)


def errors_of(model, payload) -> list[dict]:
    with pytest.raises(runtime.PayloadError) as caught:
        score(model, payload)
    return caught.value.errors


def test_naive_forecasts_carry_each_series_last_value(naive, sales):
    last = sales.sort_values("WeekStarting").groupby(["Store", "Brand"]).last()["Quantity"]
    # Store 2's Dominick's ends on 1992-08-20, its Tropicana on 1992-08-13: their next weeks differ.
    result = score(naive, {"data": [row("1992-08-27"), row("1992-09-17"), row("1992-08-20", 2, "tropicana")]})
    assert result["predictions"] == [float(last[(2, "dominicks")])] * 2 + [float(last[(2, "tropicana")])]
    assert result["time"] == ["1992-08-27T00:00:00", "1992-09-17T00:00:00", "1992-08-20T00:00:00"]
    assert result["series"] == ["2|dominicks", "2|dominicks", "2|tropicana"]
    assert list(result["quantiles"]) == ["0.1", "0.9"]
    for low, point, high in zip(result["quantiles"]["0.1"], result["predictions"], result["quantiles"]["0.9"]):
        assert low < point < high


def test_history_moves_the_origin_without_retraining(naive):
    # Two newer weeks of actuals (the engine prepares history like training data, so one week alone is refused
    # as shorter than a horizon of 1: reported to the engine).
    history = [row("1992-08-27", Quantity=7000.0, Price=2.0, Advert=1),
               row("1992-09-03", Quantity=5000.0, Price=2.0, Advert=1)]
    result = score(naive, {"data": [row("1992-09-10"), row("1992-10-01")], "history": history})
    assert result["predictions"] == [5000.0, 5000.0]
    # From the new origin, four weeks ahead ends on 1992-10-01; the weeks of the newest actuals are history now.
    assert errors_of(naive, {"data": [row("1992-09-03")], "history": history}) == [{
        "row": 0, "column": "WeekStarting", "message": "1992-09-03 00:00:00 is not after the end of series "
        "'2|dominicks' (1992-09-03 00:00:00); forecasts start one period later (send newer actuals in \"history\" "
        "to move the origin)"}]
    assert errors_of(naive, {"data": [row("1992-09-10")], "history": [{"WeekStarting": "1992-09-03"}]}) == [
        {"row": None, "column": "Store", "in": "history", "message": "missing column in history; history rows "
         "have the training data's columns, target included"},
        {"row": None, "column": "Brand", "in": "history", "message": "missing column in history; history rows "
         "have the training data's columns, target included"},
        {"row": None, "column": "Quantity", "in": "history", "message": "missing column in history; history rows "
         "have the training data's columns, target included"},
        {"row": None, "column": "Price", "in": "history", "message": "missing column in history; history rows "
         "have the training data's columns, target included"},
        {"row": None, "column": "Advert", "in": "history", "message": "missing column in history; history rows "
         "have the training data's columns, target included"}]


def test_every_bad_row_is_named_with_its_column(naive, tree):
    assert errors_of(naive, {"data": [row("next week"), row(None), {"Store": 5}]}) == [
        {"row": 0, "column": "WeekStarting",
         "message": "'next week' is not a date or time; use ISO 8601 such as 2017-08-08T06:00:00"},
        {"row": 1, "column": "WeekStarting", "message": "missing time; give each row's timestamp"},
        {"row": 2, "column": "WeekStarting", "message": "missing time; give each row's timestamp"},
        {"row": 2, "column": "Brand", "message": "missing series id"}]
    assert errors_of(naive, {"data": [row("1992-08-27"), row("1992-09-24"), row("1992-08-27", 9, "dominicks"),
                                      row("1992-08-28")]}) == [
        {"row": 1, "column": "WeekStarting", "message": "1992-09-24 00:00:00 is 5 periods after the end of series "
         "'2|dominicks' (1992-08-20 00:00:00), beyond the forecast horizon of 4; forecast at most 4 periods ahead "
         "(or send newer actuals in \"history\")"},
        {"row": 2, "column": "Store, Brand", "message": "series '9|dominicks' was not in the training data and "
         "Naive forecasts each series from its own history; send its recent actuals in \"history\" or use a "
         "global model"},
        {"row": 3, "column": "WeekStarting", "message": "1992-08-28 00:00:00 is not on the model's 'W-THU' grid; "
         "use one of the periods after 1992-08-20 00:00:00"}]
    # The global model reads the known covariates at forecast time: each row must give them.
    assert errors_of(tree, {"data": [row("1992-08-27", Price=1.99), row("1992-09-03", Advert=0)]}) == [
        {"row": 0, "column": "Advert",
         "message": "missing known covariate; give its planned value for every forecast time"},
        {"row": 1, "column": "Price",
         "message": "missing known covariate; give its planned value for every forecast time"}]


def test_a_global_model_forecasts_a_series_it_has_not_seen(tree):
    result = score(tree, {"data": [row("1992-08-27", 9, "dominicks", Price=2.09, Advert=1)]})
    assert result["series"] == ["9|dominicks"] and result["predictions"][0] > 0


def test_bodies_that_are_not_forecast_requests(naive):
    assert errors_of(naive, {"rows": []}) == [{"row": None, "column": None, "message": 'missing "data"'}]
    assert errors_of(naive, {"data": [row("1992-08-27")], "horizon": 2}) == [
        {"row": None, "column": None, "message": "unknown field 'horizon'"}]
    with pytest.raises(runtime.PayloadError, match='"data" is empty'):
        score(naive, {"data": []})
    with pytest.raises(runtime.MalformedBody):
        runtime.columns_from_body(b"{not json", runtime.LoadedModel(1, "x", naive, naive.input_schema(), None), 10)


# --- Through the registry and a deployed endpoint ----------------------------------------------------------


@pytest.fixture
def deployed(team, api_for, naive, storage_dir):
    """The Naive forecaster as a forecasting trial's model, registered and deployed as endpoint oj-ep."""
    import joblib
    from django.core.files.uploadedfile import SimpleUploadedFile

    from automl_engine.artifacts import sha256_file
    from studio.datasets.services import create_dataset_version
    from studio.registry import services as registry
    from tests.studio.experiments.forecast_factories import make_forecast_run

    version = create_dataset_version(workspace=team.workspace, user=team.alice, name="oj",
                                     uploaded=SimpleUploadedFile("oj.csv", OJ.read_bytes()), file_name="oj.csv",
                                     enqueue=False)
    run = make_forecast_run(team.workspace, team.alice, version, OJ)
    trial = run.best_trial
    trial.model_file = f"experiments/forecast-{run.pk}/model.pkl"
    path = storage_dir / trial.model_file
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(naive, path)
    trial.sha256 = sha256_file(path)
    trial.save(update_fields=["model_file", "sha256"])
    model_version = registry.register_version(trial=trial, name="oj-sales", user=team.alice)
    response = api_for(team.bob).post("/api/v1/endpoints/", {"name": "oj-ep", "model": "oj-sales", "version": "1"},
                                      format="json")
    assert response.status_code == 201, response.content
    return model_version, response.json()["key"]


def _post(client, key, body):
    import json

    return client.post("/api/v1/endpoints/oj-ep/score/", data=json.dumps(body), content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {key}")


@pytest.mark.django_db
def test_a_registered_forecaster_describes_its_future_frame(deployed):
    version, _ = deployed
    assert version.problem_type == "forecasting"
    assert version.input_schema == [
        {"name": "WeekStarting", "type": "DateTime", "role": "time"},
        {"name": "Store", "type": "Categorical", "role": "series_id"},
        {"name": "Brand", "type": "Categorical", "role": "series_id"},
        {"name": "Price", "type": "Numeric", "role": "known_covariate"},
        {"name": "Advert", "type": "Numeric", "role": "known_covariate"}]
    forecast = version.manifest["forecasting"]
    assert forecast["frequency"] == "W-THU" and forecast["forecast_horizon"] == 4
    assert {"series": "2|dominicks", "last_timestamp": "1992-08-20 00:00:00", "Store": 2,
            "Brand": "dominicks"} in forecast["series"]


@pytest.mark.django_db
def test_the_endpoint_forecasts_with_and_without_history(deployed, client, sales):
    _, key = deployed
    last = sales[(sales.Store == 5) & (sales.Brand == "tropicana")].sort_values("WeekStarting")["Quantity"].iloc[-1]
    response = _post(client, key, {"data": [row("1992-08-27", 5, "tropicana")]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["predictions"] == [float(last)] and body["series"] == ["5|tropicana"]
    assert body["time"] == ["1992-08-27T00:00:00"] and set(body["quantiles"]) == {"0.1", "0.9"}
    history = [row("1992-08-27", 5, "tropicana", Quantity=900.0, Price=2.5, Advert=0),
               row("1992-09-03", 5, "tropicana", Quantity=1000.0, Price=2.5, Advert=0)]
    response = _post(client, key, {"data": [row("1992-09-10", 5, "tropicana")], "history": history})
    assert response.status_code == 200 and response.json()["predictions"] == [1000.0]
    response = _post(client, key, {"data": [row("1992-08-27", 5, "tropicana"), row("1992-10-29", 5, "tropicana")]})
    assert response.status_code == 422
    assert response.json()["errors"] == [{
        "row": 1, "column": "WeekStarting", "message": "1992-10-29 00:00:00 is 11 periods after the end of series "
        "'5|tropicana' (1992-08-13 00:00:00), beyond the forecast horizon of 4; forecast at most 4 periods ahead "
        "(or send newer actuals in \"history\")"}]


@pytest.mark.django_db
@pytest.mark.parametrize("role,expected", [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)])
def test_the_test_tab_forecasts_a_series_after_its_history(team, client_for, deployed, role, expected):
    from studio.serving.models import Endpoint

    endpoint = Endpoint.objects.get(name="oj-ep")
    client = client_for(team.by_role(role))
    page = client.get(f"/endpoints/{endpoint.pk}/?tab=test")
    assert page.status_code == expected
    response = client.post(f"/endpoints/{endpoint.pk}/test/forecast/", {"series": "8|minute.maid", "periods": 3,
                                                                       "covariates": {"Price": 1.99}},
                           content_type="application/json")
    assert response.status_code == expected
    if expected != 200:
        return
    assert page.context["forecast_test"]["horizon"] == 4 and "8|minute.maid" in page.context["forecast_test"]["series"]
    assert [c["name"] for c in page.context["forecast_test"]["covariates"]] == ["Price", "Advert"]
    assert 'data-testid="fc-test-form"' in page.content.decode()
    body = response.json()
    # 8|minute.maid's last week is 1992-08-13
    assert [r["WeekStarting"] for r in body["rows"]] == ["1992-08-20T00:00:00", "1992-08-27T00:00:00",
                                                         "1992-09-03T00:00:00"]
    assert all(r["Price"] == 1.99 and r["Store"] == 8 and r["Brand"] == "minute.maid" for r in body["rows"])
    assert body["result"]["series"] == ["8|minute.maid"] * 3 and len(body["result"]["predictions"]) == 3
    assert len(body["history"]["time"]) == 12 and body["history"]["time"][-1] == "1992-08-13T00:00:00"
    too_far = client.post(f"/endpoints/{endpoint.pk}/test/forecast/", {"series": "8|minute.maid", "periods": 9},
                          content_type="application/json")
    assert too_far.status_code == 422 and too_far.json() == {"detail": "Forecast 1 to 4 periods (the model's horizon)."}


@pytest.mark.django_db
def test_batch_forecasting_writes_forecasts_with_intervals(team, deployed, sales, storage_dir):
    import csv
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile

    from studio.serving import services
    from studio.serving.models import BatchJob, Endpoint

    endpoint = Endpoint.objects.get(name="oj-ep")
    future = "WeekStarting,Store,Brand,Price,Advert\n1992-08-27,2,dominicks,1.99,1\n1992-09-03,2,dominicks,1.99,0\n" \
             "1992-08-20,8,tropicana,2.49,0\n"
    job = services.start_batch_job(endpoint, SimpleUploadedFile("future.csv", future.encode()), user=team.bob)
    services.run_batch_job(job.pk)
    job = BatchJob.objects.get(pk=job.pk)
    assert job.status == "completed", job.error
    rows = list(csv.DictReader(io.StringIO((storage_dir / job.output_file).read_text())))
    assert list(rows[0]) == ["WeekStarting", "Store", "Brand", "Price", "Advert", "prediction", "quantile_0.1",
                             "quantile_0.9"]
    last = sales.sort_values("WeekStarting").groupby(["Store", "Brand"]).last()["Quantity"]
    assert [float(r["prediction"]) for r in rows] == [float(last[(2, "dominicks")])] * 2 + [float(last[(8, "tropicana")])]
    assert all(float(r["quantile_0.1"]) < float(r["prediction"]) < float(r["quantile_0.9"]) for r in rows)
    bad = services.start_batch_job(endpoint, SimpleUploadedFile("bad.csv", (future + "1993-01-07,2,dominicks,1.99,0\n")
                                                                .encode()), user=team.bob)
    services.run_batch_job(bad.pk)
    bad = BatchJob.objects.get(pk=bad.pk)
    assert bad.status == "failed" and bad.error == (
        "row 4, column WeekStarting: 1993-01-07 00:00:00 is 20 periods after the end of series '2|dominicks' "
        "(1992-08-20 00:00:00), beyond the forecast horizon of 4; forecast at most 4 periods ahead (or send newer "
        "actuals in \"history\").")


def test_an_ensemble_is_as_strict_as_its_strictest_member(naive, tree):
    from automl_engine.forecasting.ensemble import ForecastEnsemble

    ensemble = ForecastEnsemble([tree, naive], [0.5, 0.5])
    # The run calibrates an ensemble's intervals on its rolling-origin residuals; here a few made-up ones.
    ensemble.calibrate(pd.DataFrame({"unique_id": "2|dominicks", "step": [1, 2, 3, 4] * 3,
                                     "residual": [-900.0, 400.0, 1200.0, -300.0] * 3}))
    assert errors_of(ensemble, {"data": [row("1992-08-27", 9, "dominicks")]}) == [
        {"row": 0, "column": "Price", "message": "missing known covariate; give its planned value for every "
                                                 "forecast time"},
        {"row": 0, "column": "Advert", "message": "missing known covariate; give its planned value for every "
                                                  "forecast time"}]
    assert errors_of(ensemble, {"data": [row("1992-08-27", 9, "dominicks", Price=2.0, Advert=0)]}) == [
        {"row": 0, "column": "Store, Brand", "message": "series '9|dominicks' was not in the training data and the "
         "ensemble's member Naive forecasts each series from its own history; send its recent actuals in \"history\" "
         "or use a global model"}]
    result = score(ensemble, {"data": [row("1992-08-27", 2, "dominicks", Price=2.0, Advert=0)]})
    assert result["predictions"] == [pytest.approx(0.5 * score(tree, {"data": [
        row("1992-08-27", 2, "dominicks", Price=2.0, Advert=0)]})["predictions"][0] + 0.5 * score(naive, {"data": [
            row("1992-08-27")]})["predictions"][0], rel=1e-6)]
