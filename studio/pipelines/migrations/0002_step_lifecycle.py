"""Pipeline steps move onto the shared job lifecycle (studio.jobs.BackgroundJob), and a deploy step keeps the
new endpoint's key until someone with the editor role has seen it once; a schedule may be an Azure ML
recurrence trigger."""
import django.utils.timezone
from django.db import migrations, models
from django.db.models import F


def backfill(apps, schema_editor):
    """Steps that started were claimed once; queued steps had their message sent when they started waiting;
    a running step last beat when it started (so the reaper can judge steps running during the upgrade)."""
    step = apps.get_model("pipelines", "PipelineStep")
    step.objects.filter(started_at__isnull=False).update(attempts=1, created_at=F("started_at"))
    step.objects.filter(status="queued").update(enqueued_at=django.utils.timezone.now())
    step.objects.filter(status="running").update(heartbeat_at=F("started_at"))


class Migration(migrations.Migration):

    dependencies = [
        ("pipelines", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="pipelinestep",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0, help_text="how many times a worker claimed it"),
        ),
        migrations.AddField(
            model_name="pipelinestep",
            name="created_at",
            field=models.DateTimeField(auto_now_add=True, default=django.utils.timezone.now),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="pipelinestep",
            name="endpoint_key",
            field=models.CharField(blank=True, help_text="the scoring key of an endpoint a deploy step created, until its first viewer with the editor role has seen it (then erased: the studio keeps only its hash)", max_length=200),
        ),
        migrations.AddField(
            model_name="pipelinestep",
            name="enqueued_at",
            field=models.DateTimeField(blank=True, help_text="when a message was last sent for it", null=True),
        ),
        migrations.AddField(
            model_name="pipelinestep",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="pipelinestep",
            name="worker",
            field=models.CharField(blank=True, help_text="the worker that claimed it last", max_length=200),
        ),
        migrations.AlterField(
            model_name="pipelinestep",
            name="error",
            field=models.TextField(blank=True, help_text="why the job failed or stopped, in words for people"),
        ),
        migrations.AddField(
            model_name="pipelineschedule",
            name="recurrence",
            field=models.JSONField(blank=True, default=dict, help_text="the Azure ML recurrence trigger as given (frequency, interval, schedule); cron or every_minutes hold what it means"),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
