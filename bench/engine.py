"""Benchmark automl_engine against FLAML on the tabular tasks of the shared benchmark suite.

Protocol (the manifest's): fixed 80/20 split, stratified for classification, seed 0; both engines get
the same training rows, the same time budget and the same cores. Metric: ROC AUC for binary
classification, accuracy for multiclass, R² for regression (our primary metrics AUC_weighted, accuracy and
r2_score; FLAML's roc_auc, accuracy and r2). Each (engine, dataset, budget) runs in its own process;
peak memory is the highest sampled RSS of that process and its children.

    .venv/bin/python bench/engine.py --budget 60 --n-jobs 2 [--short-budget 10] [--datasets adult kc1]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MANIFEST = ROOT.parent / "shared" / "data" / "bench" / "manifest.json"


def run_one(manifest: Path, dataset: str, engine: str, budget: float, n_jobs: int) -> dict:
    cmd = [sys.executable, str(ROOT / "bench" / "_runner.py"), "--manifest", str(manifest), "--dataset", dataset,
           "--engine", engine, "--budget", str(budget), "--n-jobs", str(n_jobs)]
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
                "error": (err or out).strip().splitlines()[-1:] }
    return {**json.loads(line[len("RESULT "):]), "peak_mb": peak / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--short-budget", type=float, default=10.0,
                        help="also run ours at this budget (0 to skip)")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--datasets", nargs="*")
    args = parser.parse_args()
    entries = [e for e in json.loads(args.manifest.read_text())["datasets"]
               if e["task"] in ("classification", "regression") and (not args.datasets or e["name"] in args.datasets)]
    header = (f"{'dataset':<20} {'metric':<8} {'ours':>8} {'FLAML':>8} {'ours@' + str(int(args.short_budget)) + 's':>9} "
              f"{'wall ours':>9} {'wall FLAML':>10} {'mem ours MB':>11} {'mem FLAML MB':>12}")
    print(f"budget {args.budget:.0f} s, n_jobs {args.n_jobs}, short budget {args.short_budget:.0f} s; "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (the last column is the "
          f"1-minute load after each dataset: other work on the machine slows both engines)", flush=True)
    print(header, flush=True)
    rows = []
    for e in entries:
        ours = run_one(args.manifest, e["name"], "ours", args.budget, args.n_jobs)
        flaml = run_one(args.manifest, e["name"], "flaml", args.budget, args.n_jobs)
        short = (run_one(args.manifest, e["name"], "ours", args.short_budget, args.n_jobs)
                 if args.short_budget else {"score": float("nan")})
        rows.append((e, ours, flaml, short))
        print(f"{e['name']:<20} {ours.get('metric', flaml.get('metric', '?')):<8} {ours['score']:>8.4f} "
              f"{flaml['score']:>8.4f} {short['score']:>9.4f} {ours['wall']:>9.1f} {flaml['wall']:>10.1f} "
              f"{ours['peak_mb']:>11.0f} {flaml['peak_mb']:>12.0f}  load {os.getloadavg()[0]:.1f}", flush=True)
        for name, r in (("ours", ours), ("flaml", flaml), ("short", short)):
            if r.get("error"):
                print(f"    {name} error: {r['error']}", flush=True)
    limit = args.budget * 1.05 + 5
    wins = sum(1 for _, o, f, _ in rows if o["score"] >= f["score"])
    short_wins = sum(1 for _, _, f, s in rows if s["score"] >= f["score"])
    mean_ours = sum(o["score"] for _, o, _, _ in rows) / len(rows)
    mean_flaml = sum(f["score"] for _, _, f, _ in rows) / len(rows)
    over = [e["name"] for e, o, _, _ in rows if not o["wall"] <= limit]
    print(f"\nours >= FLAML on {wins}/{len(rows)} datasets (target >= 9); mean score ours {mean_ours:.4f} vs "
          f"FLAML {mean_flaml:.4f}", flush=True)
    print(f"ours at {args.short_budget:.0f} s >= FLAML at {args.budget:.0f} s on {short_wins}/{len(rows)} "
          f"(target >= {len(rows) // 2})", flush=True)
    print(f"wall-time limit {limit:.1f} s exceeded by ours on: {over or 'none'}", flush=True)


if __name__ == "__main__":
    main()
