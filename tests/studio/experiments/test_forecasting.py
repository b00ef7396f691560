"""Forecasting jobs in the studio: the API's ``forecasting`` block checked against real series (NYC hourly
energy demand, Dominick's orange juice for stores 2, 5 and 8), each bad setting answered under its own field,
and the wizard's forecast step saying what "auto" does on the chosen data."""
import pytest
from studio.experiments.models import Run

pytestmark = pytest.mark.django_db

@pytest.fixture
def energy(make_version):
    """The first 2,000 hours of NYC energy demand (2012-01-01 00:00 to 2012-03-24 07:00)."""
    return make_version("nyc_energy_training_clean.csv", name="nyc-energy", rows=2000)


@pytest.fixture
def orange_juice(make_version):
    return make_version("dominicks_OJ_2_5_8_train.csv", name="oj-sales")


def job(version, target="demand", **forecasting):
    block = {"time_column_name": "timeStamp", "forecast_horizon": 48, **forecasting}
    return {"name": "demand-forecast", "dataset": version.dataset_id, "task": "forecasting", "target_column": target,
            "primary_metric": "normalized_root_mean_squared_error", "forecasting": block,
            "limits": {"timeout_minutes": 5, "max_trials": 3}}


def post(api_for, user, body):
    return api_for(user).post("/api/v1/experiments/", body, format="json")


@pytest.mark.parametrize("given,field,message", [
    ({"forecast_horizon": 0}, "forecasting.forecast_horizon",
     "0 is not a positive integer; give the number of periods to forecast (e.g. 48 for two days of hours)."),
    ({"forecast_horizon": 5000}, "forecasting.forecast_horizon",
     "forecast_horizon 5000 is not shorter than the history: the longest series has 2001 periods; use a horizon "
     "below 2001 or give more history."),
    ({"time_column_name": "temp"}, "forecasting.time_column_name",
     "'temp' is numeric, not a date/time column; choose a date/time column, or set its type to Date/time in the "
     "dataset's schema."),
    ({"time_column_name": "when"}, "forecasting.time_column_name",
     "Column 'when' is not in the training data; columns are ['timeStamp', 'demand', 'precip', 'temp']."),
    ({"time_series_id_column_names": ["region"]}, "forecasting.time_series_id_column_names",
     "Column 'region' is not in the training data."),
    ({"features_unknown_at_forecast_time": "demand"}, "forecasting.features_unknown_at_forecast_time",
     "Column 'demand' is the time or target column."),
    ({"frequency": "fortnightly"}, "forecasting.frequency",
     "'fortnightly' is not a pandas frequency; use e.g. 'h', 'D', 'W-THU', 'MS', or None to infer it."),
    ({"frequency": "D"}, "forecasting.frequency",
     "1916 timestamp(s) are not on the 'D' grid (e.g. 2012-01-01 01:00:00); set frequency to the data's step, or "
     "set target_aggregate_function to aggregate them into periods."),
    ({"target_lags": [0, 24]}, "forecasting.target_lags",
     "0 is not a positive integer; give lags as integers of at least 1."),
    ({"target_rolling_window_size": "weekly"}, "forecasting.target_rolling_window_size",
     "Unknown value 'weekly'; use None, 'auto', an integer or a list of integers."),
    ({"seasonality": 0}, "forecasting.seasonality",
     "0: use 'auto' or a positive integer (periods per season, e.g. 24 for hourly data with a daily cycle)."),
    ({"short_series_handling_config": "stretch"}, "forecasting.short_series_handling_config",
     "'stretch': use one of ['auto', 'pad', 'drop'] or None."),
    ({"target_aggregate_function": "median"}, "forecasting.target_aggregate_function",
     "'median': use one of ['sum', 'mean', 'min', 'max'] or None."),
    ({"country_or_region_for_holidays": "Atlantis"}, "forecasting.country_or_region_for_holidays",
     "'Atlantis' is not a supported country code; use an ISO 3166 code such as 'US', 'GB' or 'DE'."),
    ({"cv_step_size": -2}, "forecasting.cv_step_size",
     "-2: use 'auto' or a positive number of periods between validation origins."),
    ({"use_stl": "trend"}, "forecasting.use_stl", "'trend': use None, 'season' or 'season_trend'."),
    ({"lead_time": 3}, "forecasting.lead_time", "Unknown forecast setting; known: ['country_or_region_for_holidays', "
     "'cv_step_size', 'feature_lags', 'features_unknown_at_forecast_time', 'forecast_horizon', 'frequency', "
     "'seasonality', 'short_series_handling_config', 'target_aggregate_function', 'target_lags', "
     "'target_rolling_window_size', 'time_column_name', 'time_series_id_column_names', 'use_stl']."),
])
def test_each_bad_forecast_setting_is_answered_under_its_field(team, energy, api_for, given, field, message):
    response = post(api_for, team.bob, job(energy, **given))
    assert response.status_code == 400
    assert response.json()[field] == [message]
    assert Run.objects.count() == 0


def test_duplicate_timestamps_point_at_the_series_ids_or_an_aggregation(team, orange_juice, api_for):
    body = job(orange_juice, target="Quantity", time_column_name="WeekStarting", forecast_horizon=8)
    response = post(api_for, team.bob, body)
    assert response.json()["forecasting.target_aggregate_function"] == [
        "857 duplicate timestamp(s) within a series (e.g. 1990-06-14 00:00:00); make the time column unique per "
        "series (check time_series_id_column_names) or set target_aggregate_function ('sum', 'mean', 'min' or "
        "'max') to aggregate them."]


def test_too_many_rolling_origins_name_the_fold_count(team, orange_juice, api_for):
    body = {**job(orange_juice, target="Quantity", time_column_name="WeekStarting", forecast_horizon=8,
                  time_series_id_column_names=["Store", "Brand"], cv_step_size=8),
            "validation": {"n_cross_validations": 20}}
    response = post(api_for, team.bob, body)
    assert response.json()["validation.n_cross_validations"] == [
        "20 origins 8 periods apart need 176 periods; the data has 115: use fewer folds or a smaller cv_step_size."]


def test_a_missing_time_column_and_a_block_for_another_task(team, energy, api_for):
    body = job(energy)
    del body["forecasting"]["time_column_name"]
    assert post(api_for, team.bob, body).json()["forecasting.time_column_name"] == [
        "Choose the column holding each row's timestamp: timeStamp."]
    body = {**job(energy), "task": "regression"}
    assert post(api_for, team.bob, body).json() == {"forecasting": [
        "Forecast settings apply to task 'forecasting' only; remove the forecasting block or choose task "
        "'forecasting'."]}
    body = {**job(energy), "forecasting": "timeStamp"}
    assert post(api_for, team.bob, body).json()["forecasting"] == [
        "must be an object of forecast settings, e.g. {\"time_column_name\": \"date\", \"forecast_horizon\": 14}; "
        "got str."]


def test_forecasting_needs_a_numeric_target_but_not_a_complete_one(team, energy, orange_juice, api_for):
    response = post(api_for, team.bob, job(orange_juice, target="Brand", time_column_name="WeekStarting"))
    assert response.json()["target_column"] == [
        "Forecasting needs a numeric target, but 'Brand' is categorical; choose a numeric column."]
    # The energy sample misses some demand values; forecasting imputes them (reported as a guardrail).
    response = post(api_for, team.bob, job(energy))
    assert response.status_code == 201 and response.json()["target_column"] == "demand"


def test_a_valid_forecasting_job(team, orange_juice, api_for):
    body = {**job(orange_juice, target="Quantity", time_column_name="WeekStarting", forecast_horizon=8,
                  time_series_id_column_names="Store, Brand", target_lags=[1, 2, 52], cv_step_size=4,
                  country_or_region_for_holidays="US", features_unknown_at_forecast_time=["Price"]),
            "validation": {"n_cross_validations": 3}}
    response = post(api_for, team.alice, body)
    assert response.status_code == 201, response.content
    config = Run.objects.get(pk=response.json()["id"]).config
    assert config["task"] == "forecasting"
    assert config["forecasting"]["time_series_id_column_names"] == ["Store", "Brand"]
    assert config["forecasting"]["target_lags"] == [1, 2, 52] and config["forecasting"]["cv_step_size"] == 4


@pytest.mark.parametrize("role,expected", [("owner", 400), ("editor", 400), ("viewer", 403), ("outsider", 400)])
def test_forecast_checks_run_for_editors_of_the_dataset_workspace_only(team, energy, api_for, role, expected):
    response = post(api_for, team.by_role(role), job(energy, forecast_horizon=0))
    assert response.status_code == expected
    if role in ("owner", "editor"):
        assert "forecasting.forecast_horizon" in response.json()
    if role == "outsider":  # Dave's workspace has no such dataset: only checks needing no data answer him
        assert response.json() == {
            "dataset": [f"No dataset {energy.dataset_id} in this workspace; list yours at /api/v1/datasets/."],
            "forecasting.forecast_horizon": ["0 is not a positive integer; give the number of periods to forecast "
                                             "(e.g. 48 for two days of hours)."]}


def test_the_schema_describes_the_forecasting_block(client):
    schema = client.get("/api/v1/schema/?format=json").json()
    block = schema["components"]["schemas"]["ForecastingSettingsRequest"]
    assert set(block["required"]) == {"time_column_name", "forecast_horizon"}
    assert set(block["properties"]) == {
        "time_column_name", "forecast_horizon", "time_series_id_column_names", "frequency", "target_lags",
        "feature_lags", "target_rolling_window_size", "seasonality", "use_stl", "short_series_handling_config",
        "target_aggregate_function", "country_or_region_for_holidays", "cv_step_size",
        "features_unknown_at_forecast_time"}
    submission = schema["components"]["schemas"]["ExperimentSubmissionRequest"]
    assert submission["properties"]["task"] == {"$ref": "#/components/schemas/TaskEnum"}
    assert schema["components"]["schemas"]["TaskEnum"]["enum"] == ["classification", "regression", "forecasting"]


# --- The wizard ------------------------------------------------------------------------------------------


def _to_forecast(client, version, target):
    client.get("/experiments/new/")
    assert client.post("/experiments/new/basics/", {"name": "forecast-run"}).status_code == 302
    response = client.post("/experiments/new/data/", {"dataset": version.dataset_id, "task": "forecasting",
                                                      "target_column": target, "positive_label": ""})
    assert response.status_code == 302 and response["Location"] == "/experiments/new/settings/"
    response = client.post("/experiments/new/settings/", {
        "primary_metric": "normalized_root_mean_squared_error", "validation_type": "auto", "test_type": "none",
        "featurization_mode": "auto", "enable_vote_ensemble": "on"})
    assert response.status_code == 302 and response["Location"] == "/experiments/new/forecast/"


FORECAST = {"time_column_name": "timeStamp", "forecast_horizon": "48", "frequency": "", "target_lags": "",
            "target_rolling_window_size": "", "feature_lags": "", "seasonality": "auto", "use_stl": "",
            "country_or_region_for_holidays": "", "short_series_handling_config": "auto",
            "target_aggregate_function": "", "n_cross_validations": "auto", "cv_step_size": "auto"}


def test_the_forecast_step_is_only_in_a_forecasting_wizard(team, energy, bank_small, client_for):
    client = client_for(team.bob)
    client.get("/experiments/new/")
    client.post("/experiments/new/basics/", {"name": "c"})
    client.post("/experiments/new/data/", {"dataset": bank_small.dataset_id, "task": "classification",
                                           "target_column": "y"})
    page = client.get("/experiments/new/settings/").content.decode()
    assert "Forecast settings" not in page and "5. Review" in page and 'value="kfold"' in page
    assert client.get("/experiments/new/forecast/")["Location"] == "/experiments/new/limits/"
    _to_forecast(client, energy, "demand")
    page = client.get("/experiments/new/forecast/").content.decode()
    assert "4. Forecast settings" in page and "6. Review" in page
    settings = client.get("/experiments/new/settings/").content.decode()
    assert 'data-testid="forecast-validation-note"' in settings and 'value="kfold"' not in settings


def test_the_forecast_step_says_what_auto_does_on_this_data(team, energy, client_for):
    client = client_for(team.bob)
    _to_forecast(client, energy, "demand")
    assert client.get("/experiments/new/forecast/").context["form"].initial["time_column_name"] == "timeStamp"
    response = client.post("/experiments/new/forecast/", FORECAST)
    assert response.status_code == 302 and response["Location"] == "/experiments/new/limits/"
    form = client.get("/experiments/new/forecast/").context["form"]
    assert form.hints["frequency"] == "Detected: hourly (h)."
    assert form.hints["forecast_horizon"] == "48 periods ahead: 2 days after each series' last timestamp."
    # The engine's own plan, worded: its fold count, one horizon apart, the last origin a horizon before the end.
    import re

    folds = re.fullmatch(r"Auto: (\d) folds 48 periods \(2 days\) apart, each validated on the next 48 periods; "
                         r"origins 2012-03-\d\d 08:00 to 2012-03-22 08:00\.", form.hints["n_cross_validations"])
    assert folds and 2 <= int(folds.group(1)) <= 5
    assert form.hints["seasonality"] == "Auto: 24 periods (1 day); autocorrelation 0.93 at 24 periods."
    assert form.hints["target_lags"] == "Auto: lags 1–24, 48 of the target."
    assert form.hints["features_unknown_at_forecast_time"] == (
        "Known at forecast time (a forecast request must give them): precip, temp.")
    page = client.get("/experiments/new/forecast/").content.decode()
    assert 'data-testid="hint-n_cross_validations"' in page


def test_the_forecast_step_shows_engine_errors_next_to_their_fields(team, orange_juice, client_for):
    client = client_for(team.bob)
    _to_forecast(client, orange_juice, "Quantity")
    response = client.post("/experiments/new/forecast/", {**FORECAST, "time_column_name": "WeekStarting",
                                                          "forecast_horizon": "8"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["target_aggregate_function"]
    assert errors["target_aggregate_function"][0].startswith("857 duplicate timestamp(s) within a series")
    assert '<details class="wizard-section forecast-advanced" open' in response.content.decode()
    response = client.post("/experiments/new/forecast/", {**FORECAST, "time_column_name": "WeekStarting",
                                                          "forecast_horizon": "8", "n_cross_validations": "30",
                                                          "cv_step_size": "8",
                                                          "time_series_id_column_names": ["Store", "Brand"]})
    assert response.context["form"].errors["n_cross_validations"] == [
        "30 origins 8 periods apart need 256 periods; the data has 115: use fewer folds or a smaller cv_step_size."]
    response = client.post("/experiments/new/forecast/", {**FORECAST, "time_column_name": "WeekStarting",
                                                          "forecast_horizon": "8", "target_lags": "1, two",
                                                          "time_series_id_column_names": ["Store", "Brand"]})
    assert response.context["form"].errors["target_lags"] == [
        "'1, two' is not understood; write auto, a number n (1..n), a list such as 1, 2, 24, or none."]
    response = client.post("/experiments/new/forecast/", {**FORECAST, "time_column_name": "WeekStarting",
                                                          "forecast_horizon": "8", "target_lags": "1, 2, 52",
                                                          "time_series_id_column_names": ["Store", "Brand"],
                                                          "features_unknown_at_forecast_time": ["Price"]})
    assert response.status_code == 302
    from studio.experiments.forms import WizardState

    spec = WizardState(client.session).spec
    assert spec["forecasting"] == {"time_column_name": "WeekStarting", "forecast_horizon": 8,
                                   "time_series_id_column_names": ["Store", "Brand"], "target_lags": [1, 2, 52],
                                   "features_unknown_at_forecast_time": ["Price"]}
    assert spec["validation"] == {}


# --- The trial page ----------------------------------------------------------------------------------------


@pytest.fixture
def forecast_run(team, orange_juice):
    from tests.studio.experiments.conftest import SAMPLES
    from tests.studio.experiments.forecast_factories import make_forecast_run

    return make_forecast_run(team.workspace, team.alice, orange_juice, SAMPLES / "dominicks_OJ_2_5_8_train.csv")


@pytest.mark.parametrize("role,expected", [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)])
def test_a_forecasting_trial_page_by_role(team, client_for, forecast_run, role, expected):
    trial = forecast_run.best_trial
    response = client_for(team.by_role(role)).get(f"/experiments/trials/{trial.pk}/")
    assert response.status_code == expected
    if expected == 200:
        panel = response.context["forecast_panel"]
        assert panel["series"] == [f"{store}|{brand}" for store in (2, 5, 8)
                                   for brand in ("dominicks", "minute.maid", "tropicana")]
        # 3 rolling origins per series plus the test window, each one horizon long, with the interval band
        assert len(panel["windows"]) == 9 * 4 and panel["has_test"] and panel["has_interval"]
        assert all(len(w["time"]) == len(w["forecast"]) == len(w["lower"]) == 8 for w in panel["windows"])
        assert [f["key"] for f in response.context["figures"]] == ["error_by_horizon", "residuals_over_time"]
        html = response.content.decode()
        assert 'data-testid="forecast-panel"' in html and 'id="fc-data"' in html and "forecast_trial.js" in html


def test_the_series_table_puts_the_worst_series_first(team, client_for, forecast_run):
    response = client_for(team.carol).get(f"/experiments/trials/{forecast_run.best_trial.pk}/")
    table = response.context["series_table"]
    assert table["sort"] == "mase" and len(table["rows"]) == 9
    mase = [row["mase"] for row in table["rows"]]
    assert mase == sorted(mase, reverse=True)
    expected = {r["series"]: r["mase"] for r in forecast_run.best_trial.charts["per_series"]}
    assert table["rows"][0]["mase"] == max(expected.values())
    first = table["rows"][0]["series"]
    assert f'<tr data-series="{first}" role="button"><td class="mono">{first}</td>' in response.content.decode()


def test_forecasting_offers_only_its_four_primary_metrics():
    from studio.experiments.forms import metric_choices

    assert [name for name, _ in metric_choices("forecasting")] == [
        "normalized_root_mean_squared_error", "r2_score", "normalized_mean_absolute_error", "spearman_correlation"]


def test_feature_importance_is_refused_for_a_forecasting_trial_with_a_reason(team, client_for, api_for, forecast_run):
    trial = forecast_run.best_trial
    response = api_for(team.alice).post(f"/api/v1/trials/{trial.pk}/feature-importance/")
    assert response.status_code == 400
    assert response.json()["trial"] == ["Feature importance is not computed for forecasting models; the trial's "
                                        "forecast chart, error by horizon and per-series metrics describe them."]
    assert trial.importance_jobs.count() == 0
    html = client_for(team.alice).get(f"/experiments/trials/{trial.pk}/").content.decode()
    assert 'data-testid="compute-importance"' not in html
    assert "Feature importance is not computed for forecasting models" in html
