"""Schedules: when a pipeline is due, and firing the due ones.

Celery beat calls :func:`fire_due_schedules` every ``STUDIO_SCHEDULE_TICK_SECONDS`` on the control queue; it
takes ``now`` as an argument so tests advance time instead of sleeping. Cron expressions are parsed by
Celery's own ``crontab`` (Celery beat is the well-kept scheduler here; a row per schedule, rather than
django-celery-beat's tables, keeps each schedule in its workspace with its pipeline YAML and last job);
they are in UTC.

A schedule is given as a cron expression, as every N minutes, or as an Azure ML ``recurrence`` trigger
(``frequency`` minute/hour/day/week/month, ``interval``, optional ``schedule: {hours, minutes, week_days,
month_days}`` and ``start_time``), which :func:`parse_recurrence` turns into one of the first two. The
Azure schedule YAML (``trigger:`` + ``create_job:``) is read by :func:`schedule_from_yaml`.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any

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


FREQUENCY_MINUTES = {"minute": 1, "hour": 60, "day": 1440, "week": 10080}
WEEK_DAYS = {"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}


def _numbers(value: Any, field: str, low: int, high: int, errors: dict[str, str]) -> str:
    """A cron field from an int or a list of ints within [low, high]."""
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in values):
        errors[field] = f"whole numbers from {low} to {high} (one or a list), got {value!r}"
        return "*"
    return ",".join(str(v) for v in sorted(set(values)))


def parse_recurrence(trigger: dict[str, Any]) -> tuple[str, int | None, datetime | None]:
    """``(cron, every_minutes, start_time)`` of an Azure ML recurrence trigger (in UTC). Without a
    ``schedule`` it repeats every ``interval`` units counted from ``start_time`` (or creation); with one it
    fires at the listed times, which only a cron expression can say."""
    errors: dict[str, str] = {}
    frequency = str(trigger.get("frequency") or "").lower()
    interval = trigger.get("interval", 1)
    if frequency not in (*FREQUENCY_MINUTES, "month"):
        errors["trigger.frequency"] = "one of minute, hour, day, week, month"
    if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
        errors["trigger.interval"] = "a whole number of at least 1 (every `interval` frequency units)"
    zone = str(trigger.get("time_zone") or "UTC")
    if zone.upper() not in ("UTC", "COORDINATED UNIVERSAL TIME"):
        errors["trigger.time_zone"] = f"schedules run in UTC here; remove time_zone or write UTC (got {zone!r})"
    start = None
    if trigger.get("start_time"):
        from django.utils.dateparse import parse_datetime

        start = parse_datetime(str(trigger["start_time"]))
        if start is None:
            errors["trigger.start_time"] = "an ISO 8601 date and time such as 2026-12-01T03:00:00 (UTC)"
        elif timezone.is_naive(start):
            start = timezone.make_aware(start, dt_timezone.utc)
    plan = trigger.get("schedule") or {}
    unknown = sorted(set(trigger) - {"type", "frequency", "interval", "schedule", "start_time", "time_zone",
                                      "end_time"})
    if unknown:
        errors[f"trigger.{unknown[0]}"] = ("not a recurrence setting; use frequency, interval, schedule, "
                                           "start_time, time_zone")
    if not isinstance(plan, dict):
        errors["trigger.schedule"] = "a mapping with hours, minutes, week_days or month_days"
        plan = {}
    if errors:
        raise ScheduleError(errors)
    if not plan and frequency in FREQUENCY_MINUTES:
        return "", interval * FREQUENCY_MINUTES[frequency], start
    minutes = _numbers(plan.get("minutes", 0), "trigger.schedule.minutes", 0, 59, errors)
    hours = _numbers(plan.get("hours", 0), "trigger.schedule.hours", 0, 23, errors) if frequency != "hour" else (
        "*" if interval == 1 else f"*/{interval}")
    days, months, weekdays = "*", "*", "*"
    if frequency == "minute":
        errors["trigger.schedule"] = "a minute recurrence has no schedule; give the interval only"
    elif frequency == "day" and interval > 1:
        errors["trigger.interval"] = ("a daily schedule at set times runs every day here; use interval 1, or a "
                                      "cron expression")
    elif frequency == "week":
        names = plan.get("week_days") or ["monday"]
        names = names if isinstance(names, list) else [names]
        bad = [n for n in names if str(n).lower() not in WEEK_DAYS]
        if bad or interval > 1:
            errors["trigger.schedule.week_days"] = (f"day names such as monday (got {bad})" if bad else
                                                    "a weekly schedule at set days runs every week here; use "
                                                    "interval 1")
        weekdays = ",".join(str(WEEK_DAYS[str(n).lower()]) for n in names if str(n).lower() in WEEK_DAYS)
    elif frequency == "month":
        days = _numbers(plan.get("month_days", 1), "trigger.schedule.month_days", 1, 31, errors)
        months = "*" if interval == 1 else f"*/{interval}"
    if errors:
        raise ScheduleError(errors)
    return f"{minutes} {hours} {days} {months} {weekdays}", None, start


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
                    inputs: dict | None = None, recurrence: dict | None = None) -> PipelineSchedule:
    """Check the YAML and the timing, then store the schedule (it first fires at its next due time, or at the
    recurrence's ``start_time``)."""
    errors: dict[str, str] = {}
    start = None
    if recurrence:
        if cron.strip() or every_minutes is not None:
            raise ScheduleError({"trigger": "give a cron expression, every_minutes or a recurrence, not several"})
        cron, every_minutes, start = parse_recurrence(recurrence)
    if not isinstance(name, str) or not name.strip():
        name = ""
        errors["name"] = "give the schedule a name"
    elif PipelineSchedule.objects.filter(workspace=workspace, name=name.strip()).exists():
        errors["name"] = f"a schedule named {name.strip()!r} exists; choose another name"
    if bool(cron.strip()) == (every_minutes is not None):
        errors["cron"] = "give either a cron expression or every_minutes"
    elif cron.strip():
        try:
            parse_cron(cron.strip())
        except ScheduleError as exc:
            errors.update(exc.errors)
    elif not isinstance(every_minutes, int) or isinstance(every_minutes, bool) or every_minutes < 1:
        errors["every_minutes"] = "a whole number of minutes, at least 1"
    try:
        parse_pipeline(text, inputs)
    except PipelineSpecError as exc:
        errors.update({f"yaml.{k}" if k != "yaml" else k: v for k, v in exc.errors.items()})
    if errors:
        raise ScheduleError(errors)
    schedule = PipelineSchedule(workspace=workspace, name=name.strip(), yaml=text, cron=cron.strip(),
                                every_minutes=every_minutes, inputs=inputs or {}, created_by=user,
                                recurrence=recurrence or {}, last_fired_at=timezone.now())
    if start is not None:  # count so that the first firing is the start time itself (or the first after it)
        schedule.last_fired_at = start - timedelta(minutes=every_minutes or 1)
    schedule.save()
    return schedule


def schedule_from_yaml(workspace, user, text: str, job_text: str | None = None) -> PipelineSchedule:
    """A schedule from an Azure ML schedule YAML: ``name``, ``trigger`` (``type: cron`` with ``expression``,
    or ``type: recurrence``) and ``create_job`` (the pipeline YAML inline, or ``job_text`` when the file
    named a local pipeline file that the client read). ``inputs`` overrides the pipeline's inputs."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScheduleError({"yaml": f"not valid YAML: {exc}"}) from None
    if not isinstance(data, dict):
        raise ScheduleError({"yaml": "a mapping with name, trigger and create_job"})
    trigger = data.get("trigger")
    if not isinstance(trigger, dict):
        raise ScheduleError({"trigger": "a mapping: {type: cron, expression: '0 3 1 * *'} or {type: recurrence, "
                                        "frequency: day, interval: 1}"})
    job = data.get("create_job")
    if job_text is None:
        if isinstance(job, dict):
            job_text = yaml.safe_dump(job, sort_keys=False)
        elif isinstance(job, str) and job.strip().startswith("type:"):
            job_text = job
        else:
            raise ScheduleError({"create_job": "the pipeline job inline, or a path to its YAML file (the `studio "
                                               "schedule create` client reads and uploads it)"})
    kind = str(trigger.get("type") or "").lower()
    if kind == "cron":
        unknown = sorted(set(trigger) - {"type", "expression", "time_zone", "start_time", "end_time"})
        if unknown:
            raise ScheduleError({f"trigger.{unknown[0]}": "not a cron trigger setting; use expression"})
        zone = str(trigger.get("time_zone") or "UTC")
        if zone.upper() not in ("UTC", "COORDINATED UNIVERSAL TIME"):
            raise ScheduleError({"trigger.time_zone": f"schedules run in UTC here; write UTC (got {zone!r})"})
        return create_schedule(workspace, user, name=str(data.get("name") or ""), text=job_text,
                               cron=str(trigger.get("expression") or ""), inputs=data.get("inputs"))
    if kind == "recurrence":
        return create_schedule(workspace, user, name=str(data.get("name") or ""), text=job_text,
                               recurrence={k: v for k, v in trigger.items() if k != "type"}, inputs=data.get("inputs"))
    raise ScheduleError({"trigger.type": f"cron or recurrence (got {trigger.get('type')!r})"})


def describe(schedule: PipelineSchedule) -> str:
    """When the schedule fires, in words: "every 60 min", "cron 0 3 1 * * (UTC)", "every 1 day"."""
    if schedule.recurrence:
        r = schedule.recurrence
        plan = r.get("schedule")
        text = f"every {r.get('interval', 1)} {r.get('frequency')}"
        return text + (f" at {schedule.cron} (cron, UTC)" if plan else "")
    if schedule.cron:
        return f"cron {schedule.cron} (UTC)"
    return f"every {schedule.every_minutes} min"


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
