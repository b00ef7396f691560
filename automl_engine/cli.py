"""Command line: ``python -m automl_engine run job.yml [--output DIR]``.

The YAML follows the shape of Azure ML CLI v2 AutoML jobs (``type: automl``, ``task``, ``primary_metric``,
``target_column_name``, ``training_data: {path: ...}``, ``limits``, ``training``, ``featurization``); data
paths are relative to the YAML file. Shows a live progress bar and leaderboard, then writes the output
folder (model.pkl, manifest.json, leaderboard.csv, metrics.json, featurization_summary.json,
guardrails.json, trials.json, explanation.json).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

# Azure CLI v2 job keys that describe where/how to run in the cloud; meaningless here, accepted and ignored.
IGNORED_KEYS = ("$schema", "experiment_name", "name", "display_name", "description", "compute", "tags",
                "log_verbosity", "outputs", "identity", "resources")


def load_job_file(path: Path):
    """Parse a CLI v2 style YAML job into an :class:`AutoMLJob` (data paths relative to the file)."""
    import yaml

    from .config import ConfigError
    from .job import job_from_config

    spec: dict[str, Any] = yaml.safe_load(path.read_text()) or {}
    if spec.get("type", "automl") != "automl":
        raise ConfigError("type", f"only 'type: automl' jobs are supported, got {spec.get('type')!r}")
    config = {k: v for k, v in spec.items() if k not in IGNORED_KEYS}
    base = path.resolve().parent
    for key in ("training_data", "validation_data", "test_data"):
        value = config.get(key)
        if isinstance(value, dict):
            value = value.get("path")
        if value is not None:
            p = Path(value)
            config[key] = str(p if p.is_absolute() else (base / p))
    return job_from_config(config), spec


def _leaderboard_table(trials, primary_metric: str, greater: bool):
    from rich.table import Table

    table = Table(title="Leaderboard", expand=False)
    for column in ("#", "pipeline", primary_metric, "seconds", "status"):
        table.add_column(column, justify="right" if column in (primary_metric, "seconds", "#") else "left")
    done = [t for t in trials if t.score is not None]
    done.sort(key=lambda t: -t.score if greater else t.score)
    others = [t for t in trials if t.score is None][-3:]
    for t in done[:10] + others:
        table.add_row(str(t.number), t.pipeline_name, f"{t.score:.5f}" if t.score is not None else "-",
                      f"{t.duration_seconds:.1f}", t.status)
    return table


def run_command(args: argparse.Namespace) -> int:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .config import ConfigError
    from .results import Callbacks

    console = Console(stderr=False)
    job_path = Path(args.job)
    try:
        job, spec = load_job_file(job_path)
    except ConfigError as exc:
        console.print(f"[red]invalid job:[/red] {exc}")
        return 2
    config = job.config
    budget = config.limits.timeout_minutes * 60
    output = Path(args.output) if args.output else Path("outputs") / job_path.stem
    trials = []
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                        TimeElapsedColumn(), console=console)
    bar = progress.add_task(f"{config.task} · {config.primary_metric}", total=budget, info="preparing")
    started = time.time()

    def render():
        best = [t.score for t in trials if t.score is not None]
        pick = (max if config.greater_is_better else min)(best) if best else None
        progress.update(bar, completed=min(time.time() - started, budget),
                        info=f"{len(trials)} trials" + (f", best {pick:.5f}" if pick is not None else ""))
        return Group(progress, _leaderboard_table(trials, config.primary_metric, config.greater_is_better))

    logs: list[str] = []
    with Live(render(), console=console, refresh_per_second=4, transient=False,
              get_renderable=render) as live:
        def on_trial(trial):
            trials[:] = [t for t in trials if t.number != trial.number] + [trial]
            live.update(render())

        def on_log(level: str, message: str):
            logs.append(f"{level}: {message}")
            if args.verbose or level in ("warning", "error"):
                live.console.print(f"[dim]{level}[/dim] {message}")

        try:
            result = job.run(callbacks=Callbacks(on_trial=on_trial, on_log=on_log), workdir=args.workdir)
        except ConfigError as exc:
            console.print(f"[red]invalid job:[/red] {exc}")
            return 2
        progress.update(bar, completed=budget)
    out = result.save(output)
    (out / "run.log").write_text("\n".join(logs) + "\n")
    best = result.best_trial
    console.print(f"status: {result.status}; best: trial {best.number if best else '-'} "
                  f"{best.pipeline_name if best else ''} {config.primary_metric}="
                  f"{best.score if best else float('nan'):.5f}")
    if result.test_metrics:
        console.print(f"test {config.primary_metric}: {result.test_metrics.get(config.primary_metric):.5f}")
    alerts = [g["name"] for g in result.guardrails if g["status"] == "alerted"]
    if alerts:
        console.print(f"guardrails alerted: {', '.join(alerts)}")
    console.print(f"outputs written to {out}")
    return 0 if best is not None else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m automl_engine", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a YAML AutoML job")
    run.add_argument("job", help="path to the job YAML")
    run.add_argument("--output", help="output folder (default: outputs/<job file name>)")
    run.add_argument("--workdir", help="working folder for prepared data and trial models (default: temporary)")
    run.add_argument("--verbose", action="store_true", help="print every log line")
    args = parser.parse_args(argv)
    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
