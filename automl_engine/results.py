"""What a run hands back: per-trial results, the run result, and the callbacks the caller passes in."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd


@dataclass
class Callbacks:
    """Hooks the driver calls in its own process: ``on_trial(TrialResult)`` as each trial finishes,
    ``on_log(level, message)``, ``should_stop() -> bool`` polled at least once per second, and
    ``on_prepared({"guardrails": [...], "validation": {...}})`` once, when the data has been checked and
    before the first trial, so a UI can show the guardrails while the search runs; ``on_cluster(dict)``, in
    distributed runs, with the Dask cluster's workers and the current trial's boosting rounds."""

    on_trial: Callable[["TrialResult"], None] | None = None
    on_log: Callable[[str, str], None] | None = None
    should_stop: Callable[[], bool] | None = None
    on_prepared: Callable[[dict], None] | None = None
    # distributed runs: the Dask cluster (workers, memory) and the current trial's boosting rounds
    on_cluster: Callable[[dict], None] | None = None


@dataclass
class TrialResult:
    """One finished trial (ensembles included). ``to_dict`` is JSON-serialisable."""

    number: int
    algorithm: str
    pipeline_name: str
    featurization: str
    hyperparameters: dict[str, Any]
    metrics: dict[str, float]
    score: float | None
    charts: dict[str, Any]
    test_metrics: dict[str, float] | None
    test_charts: dict[str, Any] | None
    duration_seconds: float
    status: str
    error: str | None
    is_ensemble: bool
    model_path: str | None
    started_at: str | None
    finished_at: str | None
    # Rows of each split the model was fitted on when the search fitted it on a sample (None: all rows),
    # the boosting rounds early stopping kept, and the probability calibration applied (classification).
    sample_size: int | None = None
    best_iteration: int | None = None
    calibration: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))


@dataclass
class AutoMLResult:
    """The outcome of ``job.run``: trials, the best model and everything the studio shows about the run."""

    status: str
    best_trial: TrialResult | None
    best_model: Any
    trials: list[TrialResult]
    featurization_summary: list[dict[str, Any]]
    guardrails: list[dict[str, Any]]
    test_metrics: dict[str, float] | None
    validation_method: dict[str, Any]
    config: dict[str, Any]
    primary_metric: str
    greater_is_better: bool
    explanation: dict[str, Any] | None = None
    workdir: str | None = None
    duration_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def leaderboard(self) -> pd.DataFrame:
        """Completed trials sorted best first: number, pipeline, primary score, duration, test score."""
        rows = []
        for t in self.trials:
            if t.status != "completed":
                continue
            rows.append({"rank": 0, "number": t.number, "pipeline_name": t.pipeline_name, "algorithm": t.algorithm,
                         self.primary_metric: t.score, "duration_seconds": t.duration_seconds,
                         "is_ensemble": t.is_ensemble,
                         f"test_{self.primary_metric}": (t.test_metrics or {}).get(self.primary_metric)})
        frame = pd.DataFrame(rows, columns=["rank", "number", "pipeline_name", "algorithm", self.primary_metric,
                                            "duration_seconds", "is_ensemble", f"test_{self.primary_metric}"])
        frame = frame.sort_values([self.primary_metric, "number"], ascending=[not self.greater_is_better, True],
                                  kind="stable").reset_index(drop=True)
        frame["rank"] = range(1, len(frame) + 1)
        return frame

    def save(self, output_dir: str | Path) -> Path:
        """Write the run's output folder: model.pkl + manifest.json, leaderboard.csv, metrics.json,
        featurization_summary.json, guardrails.json, trials.json and explanation.json."""
        from .artifacts import save_model

        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        if self.best_model is not None and self.best_trial is not None:
            save_model(self.best_model, out, {
                "task": self.config.get("task"), "primary_metric": self.primary_metric,
                "best_trial": self.best_trial.number, "pipeline_name": self.best_trial.pipeline_name,
                "metrics": self.best_trial.metrics, "test_metrics": self.best_trial.test_metrics,
                "config": self.config})
        self.leaderboard.to_csv(out / "leaderboard.csv", index=False)
        best = self.best_trial
        _write(out / "metrics.json", {
            "status": self.status, "primary_metric": self.primary_metric,
            "best_trial": best.number if best else None,
            "validation_metrics": best.metrics if best else None, "test_metrics": self.test_metrics,
            "charts": best.charts if best else None, "test_charts": best.test_charts if best else None,
            "validation_method": self.validation_method, "duration_seconds": self.duration_seconds})
        _write(out / "featurization_summary.json", self.featurization_summary)
        _write(out / "guardrails.json", self.guardrails)
        _write(out / "trials.json", [t.to_dict() for t in self.trials])
        if self.explanation is not None:
            _write(out / "explanation.json", self.explanation)
        return out


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str))
