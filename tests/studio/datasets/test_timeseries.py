"""The time-series view of a dataset version: frequency, series, lengths, gaps and duplicates on the real
Azure samples (NYC energy demand, Dominick's orange juice for stores 2, 5 and 8), the points of chosen series,
and who may see them (owner, editor, viewer; an outsider gets 404)."""
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studio.datasets import timeseries
from studio.datasets.timeseries import SeriesColumns

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[3] / "examples" / "data"
ROLES = [("owner", 200), ("editor", 200), ("viewer", 200), ("outsider", 404)]


@pytest.fixture
def make_version(team):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from studio.datasets import services

    def make(name: str, file_name: str | None = None, frame: pd.DataFrame | None = None):
        content = (SAMPLES / file_name).read_bytes() if file_name else frame.to_csv(index=False).encode()
        version = services.create_dataset_version(
            workspace=team.workspace, user=team.alice, name=name,
            uploaded=SimpleUploadedFile(f"{name}.csv", content), file_name=f"{name}.csv", enqueue=False)
        return version
    return make


@pytest.fixture
def energy(make_version):
    return make_version("nyc-energy", "nyc_energy_training_clean.csv")


@pytest.fixture
def orange_juice(make_version):
    return make_version("oj-2-5-8", "dominicks_OJ_2_5_8_train.csv")


def test_hourly_energy_demand_is_one_series_with_two_missing_hours(energy):
    summary = timeseries.summarize(energy, SeriesColumns("timeStamp"))
    assert {k: v for k, v in summary.items() if k != "series"} == {
        "frequency": "h", "frequency_label": "hourly",
        "frequency_note": "Inferred 'h' from the most common step between timestamps (100% of steps; the others "
                          "are gaps).", "series_count": 1, "rows": 49108,
        "unreadable_times": 0, "length_min": 49108, "length_median": 49108.0, "length_max": 49108,
        "first_time": "2012-01-01T00:00:00", "last_time": "2017-08-08T05:00:00",
        "span_label": "2012-01-01 → 2017-08-08 05:00", "duplicate_timestamps": 0, "series_with_duplicates": 0,
        "missing_points": 2, "series_with_gaps": 1, "aligned": True}
    # 2012-01-01 to 2017-08-08 05:00 is 49,110 hours; the file lacks two of them.
    assert summary["series"] == [{"key": "all rows", "length": 49108, "first": "2012-01-01T00:00:00",
                                  "last": "2017-08-08T05:00:00", "missing": 2, "duplicates": 0}]


def test_orange_juice_is_nine_weekly_series_by_store_and_brand(orange_juice):
    summary = timeseries.summarize(orange_juice, SeriesColumns("WeekStarting", ("Store", "Brand")))
    assert summary["frequency"] == "W-THU" and summary["frequency_label"] == "weekly (Thursdays)"
    assert summary["frequency_note"] == ("Inferred 'W-THU' from the most common step between timestamps (96% of "
                                         "steps; the others are gaps).")
    assert summary["series_count"] == 9 and summary["rows"] == 972
    assert (summary["length_min"], summary["length_median"], summary["length_max"]) == (103, 109.0, 112)
    assert summary["duplicate_timestamps"] == 0 and summary["aligned"] is False
    assert [s["key"] for s in summary["series"]] == [f"{store} · {brand}" for store in (2, 5, 8)
                                                     for brand in ("dominicks", "minute.maid", "tropicana")]
    first = summary["series"][0]
    # 1990-06-14 to 1992-08-20 is 115 Thursdays; store 2's Dominick's has 104 of them.
    assert first == {"key": "2 · dominicks", "length": 104, "first": "1990-06-14T00:00:00",
                     "last": "1992-08-20T00:00:00", "missing": 11, "duplicates": 0}
    assert summary["missing_points"] == sum(s["missing"] for s in summary["series"]) == 57


def test_without_series_ids_the_stores_collide_as_duplicate_timestamps(orange_juice):
    summary = timeseries.summarize(orange_juice, SeriesColumns("WeekStarting"))
    assert summary["series_count"] == 1
    # 972 rows on 115 distinct weeks: every row after the first of its week is a duplicate.
    assert summary["length_max"] == 115
    assert summary["duplicate_timestamps"] == 972 - 115 and summary["series_with_duplicates"] == 1


def test_points_of_chosen_series_only_in_time_order(orange_juice):
    chosen = SeriesColumns("WeekStarting", ("Store", "Brand"), "Quantity")
    series = timeseries.series_points(orange_juice, chosen, ["8 · tropicana", "2 · dominicks"])
    assert [s["key"] for s in series] == ["8 · tropicana", "2 · dominicks"]
    frame = pd.read_csv(SAMPLES / "dominicks_OJ_2_5_8_train.csv", parse_dates=["WeekStarting"])
    expected = frame[(frame.Store == 8) & (frame.Brand == "tropicana")].sort_values("WeekStarting")
    assert series[0]["points"] == series[0]["shown"] == 111
    assert series[0]["time"] == [t.isoformat() for t in expected.WeekStarting]
    assert series[0]["value"] == [float(v) for v in expected.Quantity]


def test_a_long_series_is_drawn_from_bucket_extremes_keeping_the_peak(energy):
    series = timeseries.series_points(energy, SeriesColumns("timeStamp", (), "demand"), [])
    demand = pd.read_csv(SAMPLES / "nyc_energy_training_clean.csv")["demand"]
    (only,) = series
    assert only["points"] == 49108 and only["shown"] <= timeseries.MAX_POINTS_PER_SERIES + 2
    assert max(v for v in only["value"] if v is not None) == demand.max()
    assert min(v for v in only["value"] if v is not None) == demand.min()
    assert only["time"][0] == "2012-01-01T00:00:00" and only["time"][-1] == "2017-08-08T05:00:00"
    assert only["time"] == sorted(only["time"])


def test_a_thousand_daily_series_with_gaps_and_a_duplicate(make_version):
    rng = np.random.RandomState(0)
    days = pd.date_range("2024-01-01", periods=40, freq="D")
    frame = pd.DataFrame({"day": np.tile(days, 1000), "sku": np.repeat([f"sku-{i:04d}" for i in range(1000)], 40),
                          "sales": rng.poisson(20, 40_000)})
    frame = frame.drop(index=[5, 6, 7]).reset_index(drop=True)  # sku-0000 misses three days
    frame = pd.concat([frame, frame.iloc[[100]]])  # sku-0002 has one day twice
    version = make_version("skus", frame=frame)
    summary = timeseries.summarize(version, SeriesColumns("day", ("sku",)))
    assert summary["frequency"] == "D" and summary["series_count"] == 1000
    assert (summary["length_min"], summary["length_max"]) == (37, 40)
    assert summary["missing_points"] == 3 and summary["series_with_gaps"] == 1
    assert summary["duplicate_timestamps"] == 1 and summary["series_with_duplicates"] == 1
    assert summary["series"][2] == {"key": "sku-0002", "length": 40, "first": "2024-01-01T00:00:00",
                                    "last": "2024-02-09T00:00:00", "missing": 0, "duplicates": 1}
    points = timeseries.series_points(version, SeriesColumns("day", ("sku",), "sales"), ["sku-0999"])
    assert [s["key"] for s in points] == ["sku-0999"] and points[0]["points"] == 40


def test_column_roles_and_bad_choices_name_the_field(orange_juice):
    roles = timeseries.column_roles(orange_juice)
    assert roles["time"] == ["WeekStarting"]
    assert roles["id"][:2] == ["Store", "Brand"] and "Price" not in roles["id"]
    assert "Quantity" in roles["target"] and "Brand" not in roles["target"]
    for chosen, field, text in [
        (SeriesColumns("Store"), "time", "'Store' is not a date/time column of this version; choose one of "
                                         "WeekStarting."),
        (SeriesColumns("WeekStarting", ("Price",)), "ids", "'Price' cannot identify series"),
        (SeriesColumns("WeekStarting", ("Store",), "Brand"), "target", "'Brand' is not a numeric column"),
    ]:
        with pytest.raises(timeseries.TimeSeriesError) as caught:
            timeseries.summarize(orange_juice, chosen)
        assert caught.value.field == field and caught.value.message.startswith(text)
    with pytest.raises(timeseries.TimeSeriesError, match="draw at most 12"):
        timeseries.series_points(orange_juice, SeriesColumns("WeekStarting", ("Store", "Brand"), "Quantity"),
                                 [f"k{i}" for i in range(13)])


@pytest.mark.parametrize("role,expected", ROLES)
def test_the_page_and_its_points_by_role(team, client_for, orange_juice, role, expected):
    client = client_for(team.by_role(role))
    dataset_id = orange_juice.dataset_id
    page = client.get(f"/datasets/{dataset_id}/timeseries/?time=WeekStarting&ids=Store&ids=Brand&target=Quantity")
    assert page.status_code == expected
    points = client.get(f"/datasets/{dataset_id}/timeseries/points/?time=WeekStarting&ids=Store&ids=Brand"
                        "&target=Quantity&series=5 · minute.maid")
    assert points.status_code == expected
    if expected == 200:
        html = page.content.decode()
        assert 'data-testid="ts-series-count">9<' in html and "Weekly (Thursdays)" in html
        assert 'data-testid="ts-lengths">103 · 109 · 112<' in html
        body = points.json()
        assert [s["key"] for s in body["series"]] == ["5 · minute.maid"] and body["target"] == "Quantity"


def test_bad_choices_are_shown_next_to_their_field(team, client_for, orange_juice):
    client = client_for(team.alice)
    url = f"/datasets/{orange_juice.dataset_id}/timeseries/"
    html = client.get(url + "?time=Brand").content.decode()
    assert 'data-testid="ts-error-time">&#x27;Brand&#x27; is not a date/time column' in html
    response = client.get(url + "points/?time=WeekStarting&target=Brand")
    assert response.status_code == 400
    assert response.json() == {"error": "'Brand' is not a numeric column; choose one of Quantity, logQuantity, "
                                        "Price, Age60, COLLEGE, INCOME, Hincome150, Large HH, Minorities, "
                                        "WorkingWoman, SSTRDIST, SSTRVOL, CPDIST5, CPWVOL5.", "field": "target"}


def test_a_version_without_dates_says_how_to_get_one(team, client_for, make_version):
    version = make_version("machine", "machine_full_209rows.csv")
    client = client_for(team.alice)
    html = client.get(f"/datasets/{version.dataset_id}/timeseries/").content.decode()
    assert 'data-testid="ts-no-time"' in html and "Set a column&#x27;s type to Date/time in the Schema tab" in html
    detail = client.get(f"/datasets/{version.dataset_id}/").content.decode()
    assert 'data-testid="open-timeseries"' not in detail


def test_the_dataset_page_links_to_the_time_series_view(team, client_for, energy):
    detail = client_for(team.carol).get(f"/datasets/{energy.dataset_id}/").content.decode()
    assert f'href="/datasets/{energy.dataset_id}/timeseries/?version=1" data-testid="open-timeseries"' in detail
