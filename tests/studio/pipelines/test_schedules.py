"""Schedules fire with time advanced (never slept), resolve `@latest` at each firing, and can be paused."""
from datetime import timedelta

import pytest
from django.utils import timezone

from studio.pipelines.models import PipelineJob
from studio.pipelines.schedules import ScheduleError, create_schedule, fire_due_schedules, next_due, set_paused
from tests.studio.pipelines.test_api import small_example

pytestmark = pytest.mark.django_db


def test_a_monthly_schedule_fires_once_when_due_on_the_latest_dataset_version(team, make_version, client_for):
    first = make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=100)
    schedule = create_schedule(team.workspace, team.bob, name="monthly retrain", text=small_example(),
                               cron="0 3 1 * *")
    start = timezone.now()
    due = next_due(schedule, schedule.last_fired_at)
    assert (due.day, due.hour, due.minute) == (1, 3, 0) and due > start
    assert fire_due_schedules(due - timedelta(minutes=1)) == []
    second = make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=120)
    assert second.version == first.version + 1
    [job_id] = fire_due_schedules(due)
    job = PipelineJob.objects.get(pk=job_id)
    assert job.trigger == f"schedule 'monthly retrain' at {due:%Y-%m-%d %H:%M} UTC"
    assert job.inputs["training_data"]["version"] == second.version  # @latest resolved at firing time
    assert job.steps.count() == 3
    assert fire_due_schedules(due + timedelta(minutes=5)) == []  # fired once; next month is next
    schedule.refresh_from_db()
    assert schedule.last_job_id == job_id and next_due(schedule, schedule.last_fired_at).month != due.month
    page = client_for(team.carol).get("/pipelines/schedules/").content.decode()
    assert "monthly retrain" in page and f'href="/pipelines/jobs/{job_id}/"' in page


def test_a_paused_schedule_does_not_fire_and_a_resumed_one_counts_from_now(team, make_version):
    make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=100)
    schedule = create_schedule(team.workspace, team.bob, name="hourly", text=small_example(), every_minutes=60)
    set_paused(schedule, True)
    assert fire_due_schedules(timezone.now() + timedelta(hours=3)) == []
    set_paused(schedule, False)
    assert fire_due_schedules(timezone.now() + timedelta(minutes=30)) == []
    assert len(fire_due_schedules(timezone.now() + timedelta(minutes=61))) == 1


def test_invalid_schedules_are_refused_with_the_field(team):
    with pytest.raises(ScheduleError) as info:
        create_schedule(team.workspace, team.bob, name="x", text=small_example(), cron="0 3 *")
    assert info.value.errors == {"cron": "'0 3 *' needs five fields: minute hour day-of-month month day-of-week "
                                         "(e.g. '0 3 1 * *' for 03:00 UTC on the 1st of each month)"}
    with pytest.raises(ScheduleError) as info:
        create_schedule(team.workspace, team.bob, name="x", text="type: pipeline\njobs: {}", every_minutes=5)
    assert info.value.errors == {"yaml.jobs": "a pipeline needs jobs: a mapping of step name to step"}


@pytest.mark.parametrize("trigger,cron,every", [
    ({"frequency": "minute", "interval": 15}, "", 15),
    ({"frequency": "hour", "interval": 6}, "", 360),
    ({"frequency": "day", "interval": 1, "schedule": {"hours": [4, 16], "minutes": 30}}, "30 4,16 * * *", None),
    ({"frequency": "week", "interval": 1, "schedule": {"week_days": ["monday", "friday"], "hours": 3}},
     "0 3 * * 1,5", None),
    ({"frequency": "month", "interval": 1, "schedule": {"month_days": 1, "hours": 3, "minutes": 0}},
     "0 3 1 * *", None),
    ({"frequency": "month", "interval": 3, "schedule": {"month_days": [1, 15]}}, "0 0 1,15 */3 *", None),
])
def test_azure_recurrence_triggers_become_cron_or_every_n_minutes(trigger, cron, every):
    from studio.pipelines.schedules import parse_recurrence

    assert parse_recurrence(trigger) == (cron, every, None)


def test_bad_recurrences_name_the_field():
    from studio.pipelines.schedules import parse_recurrence

    with pytest.raises(ScheduleError) as info:
        parse_recurrence({"frequency": "fortnight", "interval": 0, "time_zone": "Pacific Standard Time"})
    assert info.value.errors == {
        "trigger.frequency": "one of minute, hour, day, week, month",
        "trigger.interval": "a whole number of at least 1 (every `interval` frequency units)",
        "trigger.time_zone": "schedules run in UTC here; remove time_zone or write UTC (got 'Pacific Standard Time')"}
    with pytest.raises(ScheduleError) as info:
        parse_recurrence({"frequency": "day", "schedule": {"hours": [25]}})
    assert info.value.errors == {"trigger.schedule.hours": "whole numbers from 0 to 23 (one or a list), got [25]"}


def test_a_recurrence_with_a_start_time_first_fires_at_that_time(team, make_version):
    make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=100)
    start = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    schedule = create_schedule(team.workspace, team.bob, name="daily", text=small_example(), recurrence={
        "frequency": "day", "interval": 1, "start_time": start.strftime("%Y-%m-%dT%H:%M:%S")})
    assert schedule.every_minutes == 1440 and schedule.recurrence["frequency"] == "day"
    assert next_due(schedule, schedule.last_fired_at) == start
    assert fire_due_schedules(start - timedelta(minutes=1)) == []
    assert len(fire_due_schedules(start)) == 1


SCHEDULE_YAML = """
$schema: https://azuremlschemas.azureedge.net/latest/schedule.schema.json
name: monthly_retrain
display_name: Monthly retraining
trigger:
  type: recurrence
  frequency: month
  interval: 1
  schedule: {month_days: [1], hours: [3], minutes: [0]}
create_job: ./pipeline.yml
"""


def test_the_schedules_api_creates_lists_disables_and_deletes_with_roles(team, make_version, api_for):
    make_version("bank_marketing_validation_data.csv", name="bank_marketing_train_data", rows=100)
    api = api_for(team.bob)
    r = api.post("/api/v1/pipeline-schedules/", {"name": "nightly", "yaml": small_example(), "cron": "0 2 * * *",
                                                 "inputs": {"auc_threshold": 0.8}}, format="json")
    assert r.status_code == 201, r.content
    nightly = r.json()
    assert (nightly["name"], nightly["cron"], nightly["when"], nightly["enabled"], nightly["inputs"]) == (
        "nightly", "0 2 * * *", "cron 0 2 * * * (UTC)", True, {"auc_threshold": 0.8})
    assert nightly["next_run_at"].endswith("T02:00:00Z")
    r = api.post("/api/v1/pipeline-schedules/", {"schedule_yaml": SCHEDULE_YAML, "job_yaml": small_example()},
                 format="json")
    assert r.status_code == 201, r.content
    monthly = r.json()
    assert (monthly["cron"], monthly["when"]) == ("0 3 1 * *", "every 1 month at 0 3 1 * * (cron, UTC)")
    assert monthly["recurrence"] == {"frequency": "month", "interval": 1,
                                     "schedule": {"month_days": [1], "hours": [3], "minutes": [0]}}
    listed = api_for(team.carol).get("/api/v1/pipeline-schedules/").json()
    assert [s["name"] for s in listed["results"]] == ["monthly_retrain", "nightly"]
    assert api_for(team.dave).get(f"/api/v1/pipeline-schedules/{nightly['id']}/").status_code == 404
    assert api_for(team.carol).post(f"/api/v1/pipeline-schedules/{nightly['id']}/disable/").status_code == 403
    assert api_for(team.carol).post("/api/v1/pipeline-schedules/", {"name": "x"}, format="json").status_code == 403
    disabled = api.post(f"/api/v1/pipeline-schedules/{nightly['id']}/disable/").json()
    assert disabled["enabled"] is False and disabled["next_run_at"] is None
    assert fire_due_schedules(timezone.now() + timedelta(days=40)) == [
        PipelineJob.objects.get(trigger__startswith="schedule 'monthly_retrain'").pk]  # the disabled one stays
    assert api.get(f"/api/v1/pipeline-schedules/{monthly['id']}/").json()["jobs"] == [
        PipelineJob.objects.get(trigger__startswith="schedule 'monthly_retrain'").pk]
    assert api.post(f"/api/v1/pipeline-schedules/{nightly['id']}/enable/").json()["enabled"] is True
    assert api_for(team.carol).delete(f"/api/v1/pipeline-schedules/{nightly['id']}/").status_code == 403
    assert api.delete(f"/api/v1/pipeline-schedules/{nightly['id']}/").status_code == 204
    assert api.get(f"/api/v1/pipeline-schedules/{nightly['id']}/").status_code == 404


@pytest.mark.parametrize("body,errors", [
    ({"name": "n", "yaml": "type: pipeline\njobs: {}", "every_minutes": 0},
     {"every_minutes": ["a whole number of minutes, at least 1"],
      "yaml.jobs": ["a pipeline needs jobs: a mapping of step name to step"]}),
    ({"name": "n", "cron": "0 3 * * *"},
     {"yaml": ["the pipeline YAML to run (or send schedule_yaml, an Azure ML schedule file)"]}),
    ({"name": "n", "yaml": "x", "cron": 5}, {"cron": ["must be a string"]}),
    ({"schedule_yaml": "name: s\ntrigger: {type: hourly}\ncreate_job: {type: pipeline}"},
     {"trigger.type": ["cron or recurrence (got 'hourly')"]}),
    ({"schedule_yaml": "name: s\ntrigger: {type: cron, expression: '0 3 * * *'}\ncreate_job: ./p.yml"},
     {"create_job": ["the pipeline job inline, or a path to its YAML file (the `studio schedule create` client "
                     "reads and uploads it)"]}),
])
def test_bad_schedules_are_a_400_naming_the_field(team, api_for, body, errors):
    r = api_for(team.bob).post("/api/v1/pipeline-schedules/", body, format="json")
    assert r.status_code == 400 and r.json() == errors
