"""Factories for runs and trials with the shapes the engine produces (metrics and chart data computed by the
engine's own functions on seeded predictions), for page, access and benchmark tests that need many trials
without training them."""
import numpy as np
from django.utils import timezone

from studio.experiments import services
from studio.experiments.models import Run, RunStatus, Trial

ALGORITHMS = [("LightGBM", "LightGBM"), ("LogisticRegression", "StandardScaler, LogisticRegression"),
              ("RandomForest", "RandomForest"), ("XGBoostClassifier", "XGBoostClassifier")]


def make_run(workspace, user, version, spec: dict, status=RunStatus.COMPLETED, n_trials=3, ensembles=True,
             model_file: str | None = None) -> Run:
    """A run of ``spec`` with ``n_trials`` trials (plus two ensembles) whose metrics come from seeded predictions."""
    from automl_engine.metrics import compute_charts, compute_metrics

    from studio.experiments.models import Experiment

    submission = services.validate_submission(workspace, spec)
    experiment, _ = Experiment.objects.get_or_create(workspace=workspace, name=submission.name,
                                                     defaults={"created_by": user})
    number = experiment.runs.count() + 1
    now = timezone.now()
    config = submission.config
    run = Run.objects.create(
        experiment=experiment, workspace=workspace, number=number, dataset_version=version, config=config,
        task=config["task"], primary_metric=config["primary_metric"],
        greater_is_better=services._greater_is_better(config), status=status, created_by=user,
        started_at=now - timezone.timedelta(seconds=60 + n_trials), heartbeat_at=now,
        finished_at=now if status in ("completed", "failed", "canceled") else None, workdir=f"experiments/runs/x")
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, 300)
    classes = ["no", "yes"]  # the bank data's labels, as they are in the file
    trials = []
    total = n_trials + (2 if ensembles else 0)
    for i in range(total):
        is_ensemble = i >= n_trials
        algo, pipeline = (("VotingEnsemble", "VotingEnsemble") if i == n_trials else ("StackEnsemble", "StackEnsemble")) \
            if is_ensemble else ALGORITHMS[i % len(ALGORITHMS)]
        noise = 0.35 + 0.3 * rng.rand()
        p = np.clip(y * (1 - noise) + rng.rand(300) * noise, 0, 1)
        proba = np.column_stack([1 - p, p])
        metrics = compute_metrics("classification", np.array(classes)[y], proba, classes)
        trials.append(Trial(
            run=run, number=i, algorithm=algo, pipeline_name=pipeline, featurization="auto: 20/20 columns",
            hyperparameters={"n_estimators": int(50 + i), "learning_rate": round(0.01 + 0.001 * i, 4),
                             "num_leaves": int(8 + i % 24)} if not is_ensemble else {"members": [0, 1]},
            metrics=metrics, score=metrics[run.primary_metric],
            charts=compute_charts("classification", np.array(classes)[y], proba, classes, "yes") if i < 5 else {},
            duration_seconds=1.0 + i % 7, status="completed", is_ensemble=is_ensemble,
            model_file=model_file or "", sha256="0" * 64 if model_file else "",
            started_at=now, finished_at=now, recorded_at=run.started_at + timezone.timedelta(seconds=i + 1)))
    Trial.objects.bulk_create(trials, batch_size=500)
    best = max(run.trials.all(), key=lambda t: t.score)
    Run.objects.filter(pk=run.pk).update(best_trial=best, best_score=best.score, trials_done=n_trials)
    run.refresh_from_db()
    return run
