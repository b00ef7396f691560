"""Schedules: when a pipeline is due, and firing the due ones.

Celery beat calls :func:`fire_due_schedules` every ``STUDIO_SCHEDULE_TICK_SECONDS``; it takes ``now`` as an
argument so tests advance time instead of sleeping. Cron expressions are parsed by Celery's own
``crontab`` (no extra scheduler library); they are in UTC.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from studio.pipelines.models import PipelineSchedule
from studio.pipelines.spec import PipelineSpecError, parse_pipeline


class ScheduleError(ValueError):
    """An invalid schedule: ``errors`` maps the field to the message."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse_cron(expression: str):
    """Celery ``crontab`` of a five-field cron expression (UTC)."""
    from celery.schedules import crontab

    fields = expression.split()
    if len(fields) != 5:
        raise ScheduleError({"cron": f"{expression!r} needs five fields: minute hour day-of-month month day-of-week "
                                     "(e.g. '0 3 1 * *' for 03:00 UTC on the 1st of each month)"})
    try:
        schedule = crontab(minute=fields[0], hour=fields[1], day_of_month=fields[2], month_of_year=fields[3],
                           day_of_week=fields[4])
        schedule.remaining_estimate(timezone.now())
    except Exception as exc:  # celery raises ValueError or ParseException for a bad field
        raise ScheduleError({"cron": f"{expression!r} is not a valid cron expression: {exc}"}) from None
    return schedule


def next_due(schedule: PipelineSchedule, after: datetime) -> datetime:
    """The first time strictly after ``after`` at which the schedule fires."""
    if schedule.every_minutes:
        return after + timedelta(minutes=schedule.every_minutes)
    cron = parse_cron(schedule.cron)
    probe = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(60 * 24 * 366):  # at most a year of minutes; crontab has no "next" method of its own
        if _matches(cron, probe):
            return probe
        probe += timedelta(minutes=1)
    raise ScheduleError({"cron": f"{schedule.cron!r} never fires within a year"})


def _matches(cron, moment: datetime) -> bool:
    return (moment.minute in cron.minute and moment.hour in cron.hour and moment.day in cron.day_of_month
            and moment.month in cron.month_of_year and moment.isoweekday() % 7 in cron.day_of_week)


def create_schedule(workspace, user, *, name: str, text: str, cron: str = "", every_minutes: int | None = None,
                    inputs: dict | None = None) -> PipelineSchedule:
    """Check the YAML and the timing, then store the schedule (it first fires at its next due time)."""
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "give the schedule a name"
    elif PipelineSchedule.objects.filter(workspace=workspace, name=name.strip()).exists():
        errors["name"] = f"a schedule named {name.strip()!r} exists; choose another name"
    if bool(cron.strip()) == bool(every_minutes):
        errors["cron"] = "give either a cron expression or every_minutes"
    elif cron.strip():
        try:
            parse_cron(cron.strip())
        except ScheduleError as exc:
            errors.update(exc.errors)
    elif every_minutes < 1:
        errors["every_minutes"] = "at least 1"
    try:
        parse_pipeline(text, inputs)
    except PipelineSpecError as exc:
        errors.update({f"yaml.{k}" if k != "yaml" else k: v for k, v in exc.errors.items()})
    if errors:
        raise ScheduleError(errors)
    return PipelineSchedule.objects.create(workspace=workspace, name=name.strip(), yaml=text, cron=cron.strip(),
                                           every_minutes=every_minutes, inputs=inputs or {}, created_by=user,
                                           last_fired_at=timezone.now())


def set_paused(schedule: PipelineSchedule, paused: bool) -> PipelineSchedule:
    """Pause or resume; a resumed schedule counts from now, it does not catch up on missed firings."""
    schedule.paused = paused
    if not paused:
        schedule.last_fired_at = timezone.now()
    schedule.save(update_fields=["paused", "last_fired_at"])
    return schedule


def fire_due_schedules(now: datetime | None = None) -> list[int]:
    """Start a pipeline job for every schedule due at ``now``; returns the new jobs' ids. A schedule fires at
    most once per call (missed firings while the beat was down are not replayed)."""
    from studio.pipelines.services import submit_pipeline

    now = now or timezone.now()
    fired = []
    for schedule_id in PipelineSchedule.objects.filter(paused=False).values_list("pk", flat=True):
        with transaction.atomic():
            schedule = PipelineSchedule.objects.select_for_update(skip_locked=True).filter(
                pk=schedule_id, paused=False).first()
            if schedule is None or next_due(schedule, schedule.last_fired_at or schedule.created_at) > now:
                continue
            schedule.last_fired_at = now
            try:
                job = submit_pipeline(schedule.workspace, schedule.created_by, schedule.yaml, schedule.inputs,
                                      trigger=f"schedule {schedule.name!r} at {now:%Y-%m-%d %H:%M} UTC")
            except PipelineSpecError as exc:  # e.g. the dataset was deleted: recorded, tried again next time
                schedule.last_error = str(exc)
            else:
                schedule.last_job, schedule.last_error = job, ""
                fired.append(job.pk)
            schedule.save()
    return fired
