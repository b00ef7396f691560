"""Benchmark automl_engine against FLAML and AutoGluon-Tabular on the tabular tasks of the shared benchmark suite.

Protocol (the manifest's): fixed 80/20 split, stratified for classification, seed 0; every engine gets
the same training rows, the same time budget and the same cores. Metric: ROC AUC for binary
classification, accuracy for multiclass (with log loss beside it), R² for regression (our primary metrics
AUC_weighted, accuracy and r2_score; FLAML's roc_auc, accuracy and r2; AutoGluon's roc_auc, accuracy, r2).
Each (engine, dataset, budget) runs in its own process; peak memory is the highest sampled RSS of that
process and its children; wall is the fit's wall time, predict the time to predict the test rows.

AutoGluon-Tabular 1.6.3 (``best_quality``) runs in its own virtual environment, never the project's:

    python3.11 -m venv var/bench-autogluon-tabular
    var/bench-autogluon-tabular/bin/pip install torch==2.13.0          # the CPU wheel on this machine's disk
    var/bench-autogluon-tabular/bin/pip install autogluon.tabular==1.6.3

    .venv/bin/python bench/engine.py --budget 60 --n-jobs 2 [--short-budget 10] [--datasets adult kc1]
        [--load] [--no-autogluon] [--early-termination] [--out bench/results/engine-<stamp>]

Ours runs with early termination off unless ``--early-termination`` is given: FLAML and AutoGluon both search
until their budget is spent, so equal budgets are compared (the SDK's default, on, can end a stalled search
at a third of the budget).

``--load`` starts a CPU-bound neighbour (one busy process, a core's worth of work) for the whole run, as
another job on the machine would.

``--split-seeds 0 1 2`` repeats every dataset on other 80/20 splits (seed 0 is the protocol's), so that a
result decided by which rows the test split holds can be told from one decided by the engine: the summary
then gives each engine's mean and spread over the splits, and how many splits each dataset was won on.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent


def _default_manifest() -> Path:
    # ../shared next to the checkout; a git worktree under <root>/wt/<branch> finds it two levels up.
    for base in (ROOT.parent, ROOT.parent.parent):
        path = base / "shared" / "data" / "bench" / "manifest.json"
        if path.exists():
            return path
    return ROOT.parent / "shared" / "data" / "bench" / "manifest.json"


DEFAULT_MANIFEST = _default_manifest()
DEFAULT_AUTOGLUON = ROOT / "var" / "bench-autogluon-tabular" / "bin" / "python"


def run_one(manifest: Path, dataset: str, engine: str, budget: float, n_jobs: int, python: str | None = None,
            early_termination: bool = False, split_seed: int = 0) -> dict:
    cmd = [python or sys.executable, str(ROOT / "bench" / "_runner.py"), "--manifest", str(manifest),
           "--dataset", dataset, "--engine", engine, "--budget", str(budget), "--n-jobs", str(n_jobs),
           "--split-seed", str(split_seed)]
    if early_termination:
        cmd.append("--early-termination")
    # Output goes to files, not pipes: nothing reads a pipe while the child runs, and a child writing more
    # than a pipe holds (FLAML's warnings on phoneme) blocked forever.
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, text=True)
        parent = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                rss = parent.memory_info().rss + sum(c.memory_info().rss for c in parent.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.2)
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        return {"score": float("nan"), "wall": float("nan"), "peak_mb": peak / 2**20,
                "error": (err or out).strip().splitlines()[-1:]}
    return {**json.loads(line[len("RESULT "):]), "peak_mb": peak / 2**20}


NEIGHBOUR = "import time\nwhile True:\n    sum(i * i for i in range(10000))\n"


def start_neighbour() -> subprocess.Popen:
    """A CPU-bound process that keeps one core busy until it is killed."""
    return subprocess.Popen([sys.executable, "-c", NEIGHBOUR], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def say_repeated(rows: list[dict], seeds: list[int], say) -> None:
    """The summary of a repeated-split run: the suite's target counted on each split, then each dataset's
    mean and spread over the splits, and on how many splits ours was at least FLAML's score."""
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    for seed in seeds:
        split = [r for r in rows if r["split_seed"] == seed]
        lost = [r["dataset"] for r in split if not r["ours"]["score"] >= r["flaml"]["score"]]
        say(f"split {seed}: ours >= FLAML on {len(split) - len(lost)}/{len(split)} datasets "
            f"(target >= {len(split) - 1}); lost {', '.join(lost) or 'none'}")
    say(f"over {len(seeds)} splits (mean ± standard deviation of the test scores):")
    ahead = 0
    for name in datasets:
        runs = [r for r in rows if r["dataset"] == name]
        ours = np.array([r["ours"]["score"] for r in runs])
        flaml = np.array([r["flaml"]["score"] for r in runs])
        ahead += ours.mean() >= flaml.mean()
        say(f"  {name:<20} ours {ours.mean():.4f} ± {ours.std(ddof=1):.4f}  FLAML {flaml.mean():.4f} ± "
            f"{flaml.std(ddof=1):.4f}  difference {np.mean(ours - flaml):+.4f}; ours >= FLAML on "
            f"{int(np.sum(ours >= flaml))}/{len(runs)} splits")
    say(f"ours' mean over the splits >= FLAML's on {ahead}/{len(datasets)} datasets")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--short-budget", type=float, default=0.0,
                        help="also run ours at this budget (0, the default, to skip)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--datasets", nargs="*")
    parser.add_argument("--load", action="store_true", help="run beside a CPU-bound neighbour process")
    parser.add_argument("--no-autogluon", action="store_true", help="skip the AutoGluon-Tabular anchor")
    parser.add_argument("--early-termination", action="store_true",
                        help="let ours stop a stalled search before its budget (the SDK's default; off here, since "
                             "both anchors search until their budget is spent)")
    parser.add_argument("--split-seeds", type=int, nargs="+", default=[0],
                        help="run every dataset on the 80/20 split of each of these seeds (default: 0, the protocol's)")
    parser.add_argument("--autogluon-python", default=str(DEFAULT_AUTOGLUON))
    parser.add_argument("--out", type=Path, help="write <out>.json and <out>.txt (default: bench/results/engine-<UTC stamp>)")
    args = parser.parse_args()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H%M")
    out = args.out or ROOT / "bench" / "results" / f"engine-{stamp}{'-load' if args.load else ''}"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    use_ag = not args.no_autogluon
    if use_ag and not Path(args.autogluon_python).exists():
        say(f"AutoGluon anchor skipped: {args.autogluon_python} does not exist (see the module docstring)")
        use_ag = False
    entries = [e for e in json.loads(args.manifest.read_text())["datasets"]
               if e["task"] in ("classification", "regression") and (not args.datasets or e["name"] in args.datasets)]
    neighbour = start_neighbour() if args.load else None
    try:
        say(f"budget {args.budget:.0f} s, n_jobs {args.n_jobs}{', short budget %.0f s' % args.short_budget if args.short_budget else ''}; "
            f"ours with early termination {'on' if args.early_termination else 'off'}; "
            f"{'WITH a CPU-bound neighbour process; ' if args.load else ''}load average at start "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the machine is shared: the last column is the "
            f"1-minute load after each dataset)")
        say(f"command: {' '.join(sys.argv)}")
        repeated = len(args.split_seeds) > 1
        header = (f"{'dataset' + (' #split' if repeated else ''):<20} {'metric':<8} {'ours':>7} {'FLAML':>7} {'AG':>7} "
                  + (f"{'ours@' + str(int(args.short_budget)) + 's':>8} " if args.short_budget else "")
                  + f"{'ll ours':>7} {'ll FLAML':>8} {'ll AG':>7} {'wall ours':>9} {'FLAML':>6} {'AG':>6} "
                  f"{'pred ours':>9} {'pred AG':>8} {'trials':>6} {'mem MB':>7}")
        say(header)
        rows = []
        for e, seed in itertools.product(entries, args.split_seeds):
            ours = run_one(args.manifest, e["name"], "ours", args.budget, args.n_jobs,
                           early_termination=args.early_termination, split_seed=seed)
            flaml = run_one(args.manifest, e["name"], "flaml", args.budget, args.n_jobs, split_seed=seed)
            ag = (run_one(args.manifest, e["name"], "autogluon", args.budget, args.n_jobs, args.autogluon_python,
                          split_seed=seed)
                  if use_ag else {"score": float("nan")})
            short = (run_one(args.manifest, e["name"], "ours", args.short_budget, args.n_jobs,
                             early_termination=args.early_termination, split_seed=seed)
                     if args.short_budget else {"score": float("nan")})
            load = os.getloadavg()[0]
            label = f"{e['name']} #{seed}" if repeated else e["name"]
            rows.append({"dataset": e["name"], "split_seed": seed, "label": label, "ours": ours, "flaml": flaml,
                         "autogluon": ag, "short": short, "load_after": load})
            say(f"{label:<20} {ours.get('metric', flaml.get('metric', '?')):<8} {fmt(ours['score'], '7.4f')} "
                f"{fmt(flaml['score'], '7.4f')} {fmt(ag['score'], '7.4f')} "
                + (f"{fmt(short['score'], '8.4f')} " if args.short_budget else "")
                + f"{fmt(ours.get('log_loss'), '7.4f')} {fmt(flaml.get('log_loss'), '8.4f')} "
                f"{fmt(ag.get('log_loss'), '7.4f')} {fmt(ours['wall'], '9.1f')} {fmt(flaml['wall'], '6.1f')} "
                f"{fmt(ag.get('wall'), '6.1f')} {fmt(ours.get('predict_seconds'), '9.3f')} "
                f"{fmt(ag.get('predict_seconds'), '8.3f')} {fmt(ours.get('trials'), '6d')} "
                f"{fmt(ours.get('peak_mb'), '7.0f')}  load {load:.1f}")
            for name in ("ours", "flaml", "autogluon", "short"):
                if rows[-1][name].get("error"):
                    say(f"    {name} error: {rows[-1][name]['error']}")
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    limit = args.budget * 1.05 + 5
    n = len(rows)
    wins = [r["label"] for r in rows if r["ours"]["score"] >= r["flaml"]["score"]]
    mean = {k: sum(r[k]["score"] for r in rows) / n for k in ("ours", "flaml", "autogluon")}
    say("")
    if repeated:
        say_repeated(rows, args.split_seeds, say)
    say(f"ours >= FLAML on {len(wins)}/{n} {'dataset splits' if repeated else 'datasets'}"
        f"{'' if repeated else f' (target >= {n - 1})'}; mean score ours {mean['ours']:.4f}, "
        f"FLAML {mean['flaml']:.4f}, AutoGluon {fmt(mean['autogluon'], '.4f')}")
    multi = [r for r in rows if r["ours"].get("metric") == "accuracy"]
    if multi:
        beat = [r["label"] for r in multi if r["ours"].get("log_loss", math.inf) <= r["flaml"].get("log_loss", math.inf)]
        say(f"multiclass log loss: ours <= FLAML on {len(beat)}/{len(multi)} ("
            + ", ".join(f"{r['label']} {fmt(r['ours'].get('log_loss'), '.4f')} vs {fmt(r['flaml'].get('log_loss'), '.4f')}"
                        for r in multi) + ")")
    for r in rows:
        if r["dataset"] == "fertility":
            say(f"{r['label']}: ours {fmt(r['ours']['score'], '.4f')} vs FLAML {fmt(r['flaml']['score'], '.4f')} AUC, "
                f"{r['ours'].get('trials')} trials on the leaderboard (target > 10)")
    if use_ag:
        rel = [r["ours"]["score"] / r["autogluon"]["score"] - 1 for r in rows
               if not math.isnan(r["autogluon"]["score"]) and r["autogluon"]["score"] > 0]
        timed = [r for r in rows if r["autogluon"].get("predict_seconds") and r["ours"].get("predict_seconds")]
        speed = [r["autogluon"]["predict_seconds"] / r["ours"]["predict_seconds"] for r in timed]
        if rel:
            say(f"ours relative to AutoGluon best_quality: mean {100 * sum(rel) / len(rel):+.2f}% over {len(rel)} "
                f"datasets (target >= -1%)")
        if speed:
            # The suite's speed-up: geometric mean of the per-dataset ratios, and all test rows of the suite
            # (the sum of the prediction times), beside the slowest and the median dataset.
            total = sum(r["autogluon"]["predict_seconds"] for r in timed) / sum(r["ours"]["predict_seconds"] for r in timed)
            say(f"prediction speed-up over AutoGluon: min {min(speed):.1f}x, median {sorted(speed)[len(speed) // 2]:.1f}x, "
                f"geometric mean {math.exp(sum(map(math.log, speed)) / len(speed)):.1f}x, whole suite {total:.1f}x "
                f"(target >= 5x)")
    over = [r["label"] for r in rows if not r["ours"]["wall"] <= limit]
    say(f"wall-time limit {limit:.1f} s exceeded by ours on: {over or 'none'}; longest "
        f"{max(r['ours']['wall'] for r in rows):.1f} s")
    out.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                                    "rows": rows}, indent=1, default=str))
    say(f"saved {out.with_suffix('.txt')} and .json")


if __name__ == "__main__":
    main()
