"""Data migrations of the apps whose job rows moved onto :class:`~studio.jobs.models.BackgroundJob`."""
from django.db.models import F


def backfill(app_label: str, *model_names: str):
    """A ``RunPython`` function that fills the new lifecycle columns of existing rows: a message was last
    sent when the row was created, a started job was claimed once, and a running job last beat when it
    started unless it has a heartbeat already (so the reaper can judge jobs that were running during the
    upgrade). The status values are the same strings as before, so no status needs mapping."""

    def forwards(apps, schema_editor):
        for name in model_names:
            model = apps.get_model(app_label, name)
            model.objects.update(enqueued_at=F("created_at"))
            model.objects.filter(started_at__isnull=False).update(attempts=1)
            model.objects.filter(status="running", heartbeat_at__isnull=True).update(heartbeat_at=F("started_at"))

    return forwards
