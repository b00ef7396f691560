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
