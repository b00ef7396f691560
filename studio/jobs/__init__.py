"""One lifecycle for every kind of background work (NetBox's ``core.Job`` and ``JobRunner`` are the model).

``models.BackgroundJob`` is the abstract base each kind's row inherits (runs, trial jobs, importance jobs,
profile jobs, batch jobs): one status set and the claim/heartbeat/finish/fail columns. ``lifecycle`` holds
the one path every task takes through them, and the two periodic chores that keep work from being lost: the
dispatcher re-sends queued jobs whose message went missing, and the reaper requeues or fails jobs whose
worker died. Both run on their own Celery queue so that a long run never delays them.
"""
