"""Benchmark automl_engine's forecasting against seasonal naive, StatsForecast and AutoGluon-TimeSeries.

Protocol (the dev-suite manifest's `about`, steering's run_forecast.py): per series the last `horizon` rows
are the test window and everything before is training; only the known covariates are given for the test
window; `drop` columns are removed first. With ``--windows N`` there are N successive origins, the test
windows ending at the end, end - h, end - 2h, ...; metrics are averaged over the windows. Metrics per series,
averaged over the series: MASE (scale: in-sample seasonal naive MAE with the manifest's season m), sMAPE
(percent) and normalized RMSE (RMSE / training range). Summary: the geometric mean over the datasets of
MASE relative to seasonal naive.

Systems, side by side in one run, each in its own virtual environment and one fresh process per dataset and
origin (peak memory is the highest sampled RSS of that process and its children; fit and predict wall times
are measured inside it):

- ``ours``: ``automl_engine.forecasting`` in the project's venv, ``timeout_minutes = budget / 60``;
  ``ours@10`` is ours with a 10 s budget (``--ours-budget 10`` adds it). Its predict time is the fitted
  model's ``predict``; ``predict_with_load`` also loads the saved model first, as AutoGluon-TimeSeries'
  ``predict`` loads its models from disk (both ratios are printed);
- ``snaive``: seasonal naive with season m (the reference of the relative MASE), in the project's venv;
- ``statsforecast``: StatsForecast 2.1.1, AutoETS, AutoTheta and AutoARIMA (season_length = m, univariate),
  each fitted in its own process with the budget as its time limit (one that does not finish is killed and
  reported); the system's forecast is the median of those that finished;
- ``autogluon``: AutoGluon-TimeSeries 1.6.3, presets="medium_quality", time_limit = budget, eval_metric MASE
  with season m, the pretrained models of the preset (Chronos2, Toto2) excluded, known covariates as
  known_covariates_names, series ids and per-series constant covariates as static features.

    make bench-forecast                  # creates the two venvs under var/ and runs everything
    .venv/bin/python bench/forecast.py --systems snaive,statsforecast,autogluon [--windows 3]
    .venv/bin/python bench/forecast.py --systems ours --ours-budget 10 --anchors bench/results/<file>.json

``--anchors`` merges a saved results file with this run: systems not measured now are taken from the file
and labelled with its date, so our engine can be compared with anchors measured earlier. Results go to
bench/results/forecast-<UTC time>-w<windows>.json and a .txt with the printed tables.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import _forecast_runner as proto  # noqa: E402  (the bench folder is not a package)

DEFAULT_MANIFEST = ROOT.parent / "shared" / "data" / "forecast_manifest.json"
if not DEFAULT_MANIFEST.exists():  # a worktree lives one level deeper than the main checkout
    DEFAULT_MANIFEST = Path("/work/shared/data/forecast_manifest.json")
RESULTS = ROOT / "bench" / "results"
SYSTEMS = ("snaive", "statsforecast", "autogluon", "ours")
SF_MEMBERS = proto.SF_MODELS


def parse_system(spec: str, budget: float) -> tuple[str, str, float]:
    """'ours' -> ('ours', 'ours', budget); 'ours@10' -> ('ours@10s', 'ours', 10.0)."""
    base, _, at = spec.partition("@")
    if base not in SYSTEMS:
        raise SystemExit(f"unknown system {base!r}: choose from {', '.join(SYSTEMS)} (optionally name@seconds)")
    if not at:
        return base, base, budget
    seconds = float(at.rstrip("s"))
    return f"{base}@{seconds:g}s", base, seconds


def default_python(base: str) -> str:
    venvs = {"statsforecast": ROOT / "var" / "bench-statsforecast", "autogluon": ROOT / "var" / "bench-autogluon"}
    if base in venvs:
        return str(venvs[base] / "bin" / "python")
    own = ROOT / ".venv" / "bin" / "python"  # the project's venv; a worktree has none and uses this Python
    return str(own) if own.exists() else sys.executable


def run_one(python: str, manifest: Path, dataset: str, base: str, budget: float, window: int, n_jobs: int,
            workdir: Path) -> dict:
    """One system on one dataset and origin in a fresh process: its RESULT line, peak memory, wall time."""
    out = workdir / f"{dataset}-{base}-{budget:g}-{window}.csv"
    cmd = [python, str(ROOT / "bench" / "_forecast_runner.py"), "--manifest", str(manifest), "--dataset", dataset,
           "--system", base, "--budget", str(budget), "--window", str(window), "--n-jobs", str(n_jobs),
           "--out", str(out)]
    # A hung system must not stop the run: StatsForecast may take three budgets (one per member).
    hard_limit = 3 * budget + 300
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    if not Path(python).exists():
        return {"status": "not available", "error": f"{python} does not exist (make bench-forecast creates it)",
                "wall": 0.0, "peak_mb": 0.0, "load_before": load_before, "load_after": load_before}
    # Output goes to files, not pipes: nothing reads a pipe while the child runs (as in bench/engine.py).
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, text=True, start_new_session=True)
        parent = psutil.Process(proc.pid)
        peak, killed = 0, False
        while proc.poll() is None:
            try:
                rss = parent.memory_info().rss + sum(c.memory_info().rss for c in parent.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            if time.perf_counter() - start > hard_limit:
                os.killpg(proc.pid, 9)
                proc.wait()
                killed = True
            time.sleep(0.2)
        out_file.seek(0)
        err_file.seek(0)
        stdout, stderr = out_file.read(), err_file.read()
    wall = time.perf_counter() - start
    row = {"wall": wall, "peak_mb": peak / 2**20, "load_before": load_before, "load_after": os.getloadavg()[0]}
    line = next((l for l in reversed(stdout.splitlines()) if l.startswith("RESULT ")), None)
    if line is None:
        tail = (stderr or stdout).strip().splitlines()[-1:] or ["no output"]
        return {**row, "status": "killed" if killed else "crashed",
                "error": f"killed after {hard_limit:g} s" if killed else tail[0][:500]}
    result = json.loads(line[len("RESULT "):])
    row.update(result)
    if result["status"] == "ok":
        row["scores"] = score_predictions(manifest, dataset, window, out)
    return row


def score_predictions(manifest: Path, dataset: str, window: int, predictions: Path) -> dict:
    """Metrics of every forecast column (the system's `prediction`, and StatsForecast's members)."""
    entry = proto.load_entry(manifest, dataset)
    train, test = proto.split(proto.load_frame(manifest, entry), entry, window)
    time_col = entry["time_column"]
    pred = pd.read_csv(predictions, parse_dates=[time_col])
    pred[proto.SERIES] = pred[proto.SERIES].astype(str)
    merged = test.merge(pred, on=[proto.SERIES, time_col], how="left")
    scores = {}
    for column in [c for c in pred.columns if c not in (proto.SERIES, time_col)]:
        missing = int(merged[column].isna().sum())
        if missing:
            scores[column] = {"missing": missing}
            continue
        scores[column] = proto.score(train, test, merged[column], entry)
    return scores


# ---------------------------------------------------------------------------------------------- summary

def aggregate(runs: list[dict]) -> dict:
    """Per (dataset, system label): metrics averaged over the origins, fit/predict mean, peak max, status."""
    table: dict = {}
    for r in runs:
        table.setdefault((r["dataset"], r["system"]), []).append(r)
    out = {}
    for key, rows in table.items():
        ok = [r for r in rows if r["status"] == "ok" and "missing" not in r["scores"]["prediction"]]
        agg = {"windows": len(rows), "ok": len(ok), "source": rows[0].get("source", "now"),
               "status": "ok" if len(ok) == len(rows) else "; ".join(sorted({
                   r["status"] + (": " + r.get("error", "") if r.get("error") else "") for r in rows
                   if r not in ok}))[:300],
               "fit": mean([r.get("fit") for r in ok]), "predict": mean([r.get("predict") for r in ok]),
               "predict_with_load": mean([r.get("predict_with_load") for r in ok]),
               "fit_max": max([r.get("fit", math.nan) for r in ok], default=math.nan),
               "wall": mean([r["wall"] for r in rows]),
               "peak_mb": max([r["peak_mb"] for r in rows], default=math.nan),
               "budget": rows[0]["budget"], "notes": rows[0].get("members") or rows[0].get("best")}
        columns = sorted({c for r in ok for c in r["scores"]})
        agg["metrics"] = {}
        for c in columns:
            per = [r["scores"].get(c, {}) for r in ok]
            if len(ok) == len(rows) and all("mase" in p for p in per):
                agg["metrics"][c] = {m: mean([p[m] for p in per]) for m in ("mase", "smape", "nrmse")}
            else:
                agg["metrics"][c] = None  # a member that did not finish on every origin has no average
        if key[1] == "statsforecast":
            agg["member_status"] = {
                m: f"{sum(1 for r in rows if str((r.get('members') or {}).get(m, '')).startswith('ok'))}"
                   f"/{len(rows)} finished" for m in SF_MEMBERS}
        out[key] = agg
    return out


def mean(values) -> float:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return sum(values) / len(values) if values else math.nan


def geomean(values) -> float:
    values = [v for v in values if v and not math.isnan(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


def fmt(v, spec=".3f") -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def report(agg: dict, datasets: list[str], systems: list[str], sources: dict, budget: float, print_) -> dict:
    """Print the tables and the issue's targets; return the summary figures."""
    def mase(ds, sys_, col="prediction"):
        a = agg.get((ds, sys_))
        m = a and a["metrics"].get(col)
        return m["mase"] if m else math.nan

    print_(f"\n{'dataset':<16} {'system':<16} {'MASE':>7} {'relMASE':>7} {'sMAPE':>7} {'nRMSE':>7} {'fit s':>7} "
           f"{'pred s':>7} {'wall s':>7} {'peak MB':>8} {'win':>4}  status / source")
    for ds in datasets:
        ref = mase(ds, "snaive")
        for s in systems:
            a = agg.get((ds, s))
            if a is None:
                continue
            rows = [("prediction", s)]
            if s == "statsforecast":
                rows += [(m, f"  sf.{m}") for m in SF_MEMBERS]
            for col, label in rows:
                m = a["metrics"].get(col)
                if col == "prediction":
                    short = "now" if sources[s] == "measured now" else "saved " + a["source"].split(" ", 2)[-1]
                    tail = f"{a['status'][:90]}  [{short}]"
                    print_(f"{ds:<16} {label:<16} {fmt(m and m['mase']):>7} {fmt(m and m['mase'] / ref):>7} "
                           f"{fmt(m and m['smape'], '.2f'):>7} {fmt(m and m['nrmse'], '.4f'):>7} "
                           f"{fmt(a['fit'], '.1f'):>7} {fmt(a['predict'], '.2f'):>7} {fmt(a['wall'], '.1f'):>7} "
                           f"{fmt(a['peak_mb'], '.0f'):>8} {a['ok']}/{a['windows']:<2}  {tail}")
                else:
                    print_(f"{'':<16} {label:<16} {fmt(m and m['mase']):>7} {fmt(m and m['mase'] / ref):>7} "
                           f"{fmt(m and m['smape'], '.2f'):>7} {fmt(m and m['nrmse'], '.4f'):>7} "
                           f"{'':>7} {'':>7} {'':>7} {'':>8} {'':>4}  {a['member_status'][col]}")
    summary = {}
    print_("\ngeometric mean of MASE relative to seasonal naive, over the datasets where the system has a figure; "
           "'fallback' counts a dataset without one as seasonal naive (1.0), what a deployment would fall back to:")
    for s in systems:
        rel = [mase(ds, s) / mase(ds, "snaive") for ds in datasets]
        n = sum(1 for v in rel if not math.isnan(v))
        fallback = geomean([1.0 if math.isnan(v) else v for v in rel]) if n else math.nan
        summary[s] = {"geomean_rel_mase": geomean(rel), "datasets": n, "geomean_rel_mase_fallback": fallback}
        print_(f"  {s:<16} {fmt(geomean(rel))}  ({n}/{len(datasets)} datasets; fallback {fmt(fallback)})  "
               f"[{sources[s]}]")
        if s == "statsforecast":
            for m in SF_MEMBERS:
                relm = [mase(ds, s, m) / mase(ds, "snaive") for ds in datasets]
                nm = sum(1 for v in relm if not math.isnan(v))
                print_(f"    sf.{m:<12} {fmt(geomean(relm))}  ({nm}/{len(datasets)} datasets: where it finished)")

    print_("\nissue 11 targets:")
    ours = next((s for s in systems if s == "ours"), None)
    short = next((s for s in systems if s.startswith("ours@")), None)

    def verdict(ok) -> str:
        return "not measured" if ok is None else ("met" if ok else "NOT met")

    if ours and "statsforecast" in systems and "autogluon" in systems:
        g = {s: summary[s]["geomean_rel_mase"] for s in (ours, "statsforecast", "autogluon")}
        complete = summary[ours]["datasets"] == len(datasets)
        ok = None if math.isnan(g[ours]) else (complete and g[ours] < g["statsforecast"] and g[ours] < g["autogluon"])
        print_(f"  lower geometric-mean relative MASE than both anchors: ours {fmt(g[ours])} "
               f"({summary[ours]['datasets']}/{len(datasets)}), StatsForecast {fmt(g['statsforecast'])} "
               f"({summary['statsforecast']['datasets']}/{len(datasets)}), AutoGluon {fmt(g['autogluon'])} "
               f"({summary['autogluon']['datasets']}/{len(datasets)}): {verdict(ok)}")
        for anchor in ("statsforecast", "autogluon"):  # the same comparison on the datasets both have
            common = [ds for ds in datasets if not math.isnan(mase(ds, ours)) and not math.isnan(mase(ds, anchor))]
            if common and len(common) < len(datasets):
                a = geomean([mase(ds, ours) / mase(ds, "snaive") for ds in common])
                b = geomean([mase(ds, anchor) / mase(ds, "snaive") for ds in common])
                print_(f"    on the {len(common)} datasets where both have a figure: ours {fmt(a)}, {anchor} {fmt(b)}")
        at_most = [ds for ds in datasets if mase(ds, ours) <= mase(ds, "autogluon")]
        measured = sum(1 for ds in datasets if not math.isnan(mase(ds, ours)))
        print_(f"  MASE at most AutoGluon's on at least 5 of the 6 datasets: {len(at_most)}/{len(datasets)} "
               f"({', '.join(at_most) or 'none'}): {verdict(len(at_most) >= 5 if measured else None)}")
    else:
        print_("  relative MASE against both anchors: not measured (needs ours, statsforecast and autogluon)")
    if ours:
        limit = budget * 1.05 + 5
        fits = {ds: agg[(ds, ours)]["fit_max"] for ds in datasets if (ds, ours) in agg}
        over = [ds for ds, f in fits.items() if not f <= limit]
        measured = any(not math.isnan(f) for f in fits.values())
        print_(f"  fit wall time within {budget:g} s + 5% + 5 s = {limit:.1f} s on every dataset and origin "
               f"(longest {fmt(max(fits.values(), default=math.nan), '.1f')} s): "
               f"{verdict(not over if measured else None)}{' (over on ' + ', '.join(over) + ')' if over and measured else ''}")
    if ours and "autogluon" in systems:
        ratios = {ds: agg[(ds, "autogluon")]["predict"] / agg[(ds, ours)]["predict"]
                  for ds in datasets if (ds, ours) in agg and (ds, "autogluon") in agg
                  and agg[(ds, ours)]["predict"] > 0}
        ratios = {k: v for k, v in ratios.items() if not math.isnan(v)}
        text = ", ".join(f"{k} {v:.1f}x" for k, v in ratios.items()) or "no figures"
        print_(f"  prediction at least 10x faster than AutoGluon on every dataset ({text}): "
               f"{verdict(all(v >= 10 for v in ratios.values()) if ratios else None)}")
        summary["predict_speedup_vs_autogluon"] = ratios
        # AutoGluon loads its models from disk inside predict(); ours, loading the saved model and forecasting
        loaded = {ds: agg[(ds, "autogluon")]["predict"] / agg[(ds, ours)]["predict_with_load"]
                  for ds in datasets if (ds, ours) in agg and (ds, "autogluon") in agg
                  and agg[(ds, ours)]["predict_with_load"] > 0}
        loaded = {k: v for k, v in loaded.items() if not math.isnan(v)}
        if loaded:
            text = ", ".join(f"{k} {v:.1f}x" for k, v in loaded.items())
            print_(f"    the same with ours loading its saved model inside the timed call, as AutoGluon does "
                   f"({text}): {verdict(all(v >= 10 for v in loaded.values()))}")
            summary["predict_with_load_speedup_vs_autogluon"] = loaded
    if short and "statsforecast" in systems:
        a, b = summary[short]["geomean_rel_mase"], summary["statsforecast"]["geomean_rel_mase"]
        ok = None if math.isnan(a) else (a <= b and summary[short]["datasets"] == len(datasets))
        print_(f"  {short} relative MASE at most StatsForecast's at {budget:g} s: {fmt(a)} vs {fmt(b)}: {verdict(ok)}")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per system, dataset and origin")
    parser.add_argument("--ours-budget", type=float, default=10.0,
                        help="also run ours at this budget, as system ours@<budget>s (0 to skip; only when "
                             "ours is among --systems)")
    parser.add_argument("--windows", type=int, default=1, help="successive origins, ending at end, end-h, ...")
    parser.add_argument("--datasets", help="comma-separated names (default: all six)")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help="comma-separated: snaive, statsforecast, autogluon, ours, ours@<seconds>")
    parser.add_argument("--n-jobs", type=int, default=2, help="cores for ours and StatsForecast")
    parser.add_argument("--anchors", type=Path, help="a saved results JSON whose other systems join the tables")
    parser.add_argument("--python-ours", help="interpreter for ours and snaive (default: the project's venv)")
    parser.add_argument("--python-statsforecast", help="default: var/bench-statsforecast/bin/python")
    parser.add_argument("--python-autogluon", help="default: var/bench-autogluon/bin/python")
    parser.add_argument("--tag", default="", help="appended to the results file name")
    args = parser.parse_args()

    entries = json.loads(args.manifest.read_text())["datasets"]
    datasets = [e["name"] for e in entries]
    if args.datasets:
        wanted = args.datasets.split(",")
        unknown = sorted(set(wanted) - set(datasets))
        if unknown:
            raise SystemExit(f"unknown dataset(s) {unknown}; the manifest has {datasets}")
        datasets = [d for d in datasets if d in wanted]
    specs = [parse_system(s.strip(), args.budget) for s in args.systems.split(",") if s.strip()]
    if args.ours_budget and any(base == "ours" and label == "ours" for label, base, _ in specs):
        specs.append(parse_system(f"ours@{args.ours_budget:g}", args.budget))
    pythons = {"ours": args.python_ours, "snaive": args.python_ours, "statsforecast": args.python_statsforecast,
               "autogluon": args.python_autogluon}
    pythons = {k: v or default_python(k) for k, v in pythons.items()}

    started = datetime.now(timezone.utc)
    lines: list[str] = []

    def print_(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    load_start = os.getloadavg()
    print_(f"forecast benchmark {started:%Y-%m-%d %H:%M} UTC: budget {args.budget:g} s, {args.windows} origin(s), "
           f"n_jobs {args.n_jobs}, systems {', '.join(l for l, _, _ in specs)}; load average at start "
           f"{load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f} on {os.cpu_count()} cores (other work on "
           f"the machine slows every system; each run's 1-minute load is recorded)")
    runs = []
    stem = f"forecast-{started:%Y-%m-%dT%H%M}-w{args.windows}{'-' + args.tag if args.tag else ''}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    partial = RESULTS / f"{stem}.partial.json"
    with tempfile.TemporaryDirectory(prefix="forecast-bench-") as tmp:
        for ds in datasets:
            for label, base, budget in specs:
                for w in range(args.windows):
                    r = run_one(pythons[base], args.manifest, ds, base, budget, w, args.n_jobs, Path(tmp))
                    r.update({"dataset": ds, "system": label, "base": base, "budget": budget, "window": w,
                              "source": "now"})
                    runs.append(r)
                    # kept after every run, so an interrupted run still leaves its measurements behind
                    # (with the keys --anchors reads, so a partial file can be merged as it is)
                    partial.write_text(json.dumps({"started": started.isoformat(), "argv": sys.argv[1:],
                                                   "budget": args.budget, "windows": args.windows,
                                                   "load_start": load_start, "load_end": os.getloadavg(),
                                                   "runs": runs}, default=str) + "\n")
                    m = (r.get("scores") or {}).get("prediction") or {}
                    print_(f"  {ds:<16} {label:<14} origin {w}: {r['status']:<13} MASE {fmt(m.get('mase'))} "
                           f"fit {fmt(r.get('fit'), '.1f')} s predict {fmt(r.get('predict'), '.2f')} s "
                           f"peak {r['peak_mb']:.0f} MB load {r['load_before']:.1f}->{r['load_after']:.1f}"
                           + (f"  {r['error']}" if r.get("error") else "")
                           + (f"  {r['members']}" if r.get("members") else "")
                           + (f"  load+predict {r['predict_with_load']:.3f} s, {r.get('trials')} trials, "
                              f"{r.get('best')} of {r.get('ensemble_members')}" if r.get("predict_with_load") else ""))
    load_end = os.getloadavg()
    labels = [l for l, _, _ in specs]
    sources = {l: "measured now" for l in labels}
    saved = None
    if args.anchors:
        saved = json.loads(args.anchors.read_text())
        if saved["windows"] != args.windows:
            raise SystemExit(f"{args.anchors} has {saved['windows']} origin(s), this run {args.windows}: "
                             f"pass --windows {saved['windows']}")
        when = saved["started"][:16].replace("T", " ")
        for r in saved["runs"]:
            if r["system"] not in labels and r["dataset"] in datasets:
                # a row a merged file itself took from an older file keeps that file's time
                source = r["source"] if r.get("source", "now") != "now" else f"saved {when[11:]}"
                runs.append({**r, "source": source})
                if r["system"] not in sources:
                    sources[r["system"]] = (f"saved {args.anchors.name}, {when} UTC, load "
                                            f"{saved['load_start'][0]:.1f}->{saved['load_end'][0]:.1f}")
        print_(f"\nrows marked [saved ...] come from {args.anchors} (measured {when} UTC, budget "
               f"{saved['budget']:g} s); the others were measured in this run")
    order = [s for s in ("snaive", "statsforecast", "autogluon", "ours") if s in sources] + \
            sorted(s for s in sources if s not in ("snaive", "statsforecast", "autogluon", "ours"))
    agg = aggregate(runs)
    print_(f"\nbudget {args.budget:g} s; {args.windows} origin(s); metrics are means over the series, then over "
           f"the origins; relMASE = MASE / seasonal naive's; fit and predict: mean per origin; peak: max")
    summary = report(agg, datasets, order, sources, args.budget, print_)
    print_(f"\nload average at end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")

    payload = {"started": started.isoformat(), "finished": datetime.now(timezone.utc).isoformat(),
               "argv": sys.argv[1:], "budget": args.budget, "windows": args.windows, "n_jobs": args.n_jobs,
               "cpu_count": os.cpu_count(), "load_start": load_start, "load_end": load_end,
               "anchors": str(args.anchors) if args.anchors else None, "systems": sources, "summary": summary,
               "runs": runs}
    (RESULTS / f"{stem}.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
    (RESULTS / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    partial.unlink()
    print(f"\nwrote bench/results/{stem}.json and .txt")


if __name__ == "__main__":
    main()
