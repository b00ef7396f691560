"""Distributed training (training_mode="distributed") on data larger than one Dask worker's memory limit.

Data: UCI Adult from ../shared/data/bench, split 80/20 (stratified, seed 0); the 80% is resampled with
replacement to --rows rows, with Gaussian noise (5% of each numeric column's standard deviation) on the
numeric columns, and written as Parquet parts of 500,000 rows; the 20% is resampled the same way to
--test-rows rows as the common test set (no original row is in both).

Figures printed (with `uptime` beside each, the machine is shared):
1. the data's size on disk and in pandas memory against the worker memory limit;
2. a non-distributed run on it under that limit (AUTOML_MEMORY_LIMIT): refused with "does not fit";
3. one distributed trial (LightGBM, --rounds rounds) on --workers workers with --memory each: seconds,
   training rows per second, test AUC;
4. single-machine LightGBM (same parameters, the same thread count) on the largest sample whose pandas frame
   fits the same memory limit with the engine's factor (IN_MEMORY_FACTOR): test AUC;
5. 1 against 2 workers on --speedup-rows rows (fits both ways): seconds and speed-up;
6. with --compare-lightgbm-dask, the peak worker memory of lightgbm.DaskLGBMClassifier on that same data
   (it concatenates each worker's partitions), against this engine's trainer.

Each distributed trial runs on a fresh LocalCluster (one thread per worker), and prints the peak resident
memory of each worker process over its life.

    .venv/bin/python bench/distributed.py --rows 4000000 --memory 1.5GiB
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
# run as a script, this file's folder comes first on sys.path and its name would shadow the `distributed` package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
BENCH = ROOT.parent / "shared" / "data" / "bench"
TARGET = "income >50K"
PART_ROWS = 500_000


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average:")[-1].strip()


def say(message: str) -> None:
    print(f"{message}   [load {load()}]", flush=True)


def resample(frame: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame.iloc[rng.integers(0, len(frame), n)].reset_index(drop=True)
    for column in frame.columns:
        if column != TARGET and pd.api.types.is_numeric_dtype(frame[column]):
            noise = rng.normal(0.0, 0.05 * float(frame[column].std()), n)
            out[column] = (out[column].astype("float64") + noise).astype("float32")
    return out


def write_parts(frame: pd.DataFrame, n: int, folder: Path, seed: int) -> None:
    folder.mkdir(parents=True)
    for i, start in enumerate(range(0, n, PART_ROWS)):
        resample(frame, min(PART_ROWS, n - start), seed + i).to_parquet(folder / f"part-{i:04d}.parquet", index=False)


def start_cluster(workers: int, memory: str):
    """A LocalCluster of ``workers`` processes, one thread and ``memory`` each, and its client."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=memory,
                           dashboard_address=":0", silence_logs=40)
    return cluster, Client(cluster)


def peak_rss(client) -> list[int]:
    """The highest resident memory of each worker process over its life (bytes), from the worker's own system
    monitor (sampled every 0.5 s). (``ru_maxrss`` would not do: a worker process is forked from this one
    before it execs, and inherits this process's peak.)"""
    def peak(dask_worker) -> int:
        return int(max(dask_worker.monitor.quantities["memory"], default=0))

    return sorted(client.run(peak).values())


def distributed_trial(path: Path, workers: int, memory: str, rounds: int) -> tuple[float, object, int, list[int]]:
    """One distributed trial on a fresh LocalCluster: (seconds, model, training rows, peak RSS per worker)."""
    import automl_engine
    from automl_engine.distributed import search

    search.FIRST_TRIAL.update(n_estimators=rounds)
    job = automl_engine.classification(training_data=str(path), target_column_name=TARGET,
                                       primary_metric="AUC_weighted", validation_data_size=0.02)
    job.set_training(training_mode="distributed")
    job.set_limits(max_nodes=workers, max_trials=1, timeout_minutes=120)
    logs = []
    cluster, client = start_cluster(workers, memory)
    try:
        result = job.run(callbacks=automl_engine.Callbacks(on_log=lambda level, m: logs.append(m)), cluster=client)
        trial = result.trials[0]
        if trial.status != "completed":
            raise RuntimeError(f"the distributed trial failed: {trial.error}")
        peaks = peak_rss(client)
    finally:
        client.close()
        cluster.close()
    rows = next(int(m.split()[1]) for m in logs if m.startswith("read "))
    return trial.duration_seconds, result.best_model, rows, peaks


def lightgbm_dask_trial(path: Path, workers: int, memory: str, rounds: int) -> tuple[float | None, list[int], str]:
    """The same training through ``lightgbm.DaskLGBMClassifier`` (which concatenates each worker's partitions)
    on the same featurized partitions, for its peak worker memory: (seconds or None, peaks, outcome)."""
    import dask.dataframe as dd
    from lightgbm import DaskLGBMClassifier

    from automl_engine.distributed.featurize import column_kinds, fit_featurizer

    cluster, client = start_cluster(workers, memory)
    try:
        frame = dd.read_parquet(str(path))
        features = [c for c in frame.columns if c != TARGET]
        n = int(frame.map_partitions(len).sum().compute())
        step, featurizer, _ = fit_featurizer(frame[features], column_kinds(frame[features].dtypes.to_dict(), {}),
                                             n, lambda *objs: client.compute(list(objs), sync=True))
        # both from the whole frame, so their partitions match (projected separately, Dask may group the
        # Parquet parts differently for X and for y)
        X = frame.map_partitions(lambda p: featurizer.transform(step.transform(p[features])), meta=featurizer.meta())
        y = frame.map_partitions(lambda p: p[TARGET].astype("int32"), meta=(TARGET, "int32"))
        started = time.monotonic()
        try:
            DaskLGBMClassifier(client=client, n_estimators=rounds, random_state=0, verbose=-1, time_out=5).fit(X, y)
            seconds, outcome = time.monotonic() - started, "completed"
        except Exception as exc:  # noqa: BLE001 - the figure to print is how it failed
            seconds, outcome = None, f"failed: {type(exc).__name__}: {str(exc)[:200]}"
        peaks = peak_rss(client)
    finally:
        client.close()
        cluster.close()
    return seconds, peaks, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--test-rows", type=int, default=200_000)
    parser.add_argument("--speedup-rows", type=int, default=1_000_000)
    parser.add_argument("--memory", default="1.5GiB", help="memory limit of each Dask worker")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--workdir", default=str(ROOT / "var" / "bench-distributed"))
    parser.add_argument("--compare-lightgbm-dask", action="store_true",
                        help="also train the speed-up data with lightgbm.DaskLGBMClassifier, for its worker memory")
    parser.add_argument("--lightgbm-dask-only", action="store_true",
                        help="only generate the training data and train it with lightgbm.DaskLGBMClassifier "
                             "(--workers x --memory): does the stock Dask trainer fit where this engine's does?")
    args = parser.parse_args()
    from dask.utils import format_bytes, parse_bytes
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    import automl_engine
    from automl_engine.distributed.data import IN_MEMORY_FACTOR, parquet_memory_estimate

    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    source = pd.read_csv(BENCH / "adult.csv")
    train_src, test_src = train_test_split(source, test_size=0.2, stratify=source[TARGET], random_state=0)
    t0 = time.monotonic()
    write_parts(train_src, args.rows, workdir / "train", seed=1)
    test = resample(test_src, args.test_rows, seed=10_000)
    write_parts(train_src, args.speedup_rows, workdir / "speedup", seed=20_000)
    on_disk = sum(p.stat().st_size for p in (workdir / "train").glob("*.parquet"))
    part = pd.read_parquet(next((workdir / "train").glob("*.parquet")))
    in_pandas = part.memory_usage(deep=True).sum() / len(part) * args.rows
    limit = parse_bytes(args.memory)
    say(f"data: {args.rows:,} rows x {source.shape[1]} columns, {format_bytes(on_disk)} Parquet on disk, "
        f"{format_bytes(in_pandas)} as a pandas frame; worker memory limit {format_bytes(limit)} "
        f"(generated in {time.monotonic() - t0:.0f}s)")

    if args.lightgbm_dask_only:
        seconds, peaks, outcome = lightgbm_dask_trial(workdir / "train", args.workers, args.memory, args.rounds)
        say(f"lightgbm.dask on the training data, {args.workers} workers x {args.memory}: {outcome}"
            + (f" in {seconds:.1f}s" if seconds else "")
            + f"; peak worker memory {', '.join(format_bytes(p) for p in peaks)}")
        shutil.rmtree(workdir, ignore_errors=True)
        return

    # 2. non-distributed: refused before loading
    os.environ["AUTOML_MEMORY_LIMIT"] = str(limit)
    try:
        job = automl_engine.classification(training_data=str(workdir / "train"), target_column_name=TARGET)
        job.set_limits(max_trials=1, timeout_minutes=2)
        job.run()
        say("non-distributed: the data fits this limit, so it ran: raise --rows for the benchmark")
    except automl_engine.ConfigError as exc:
        say(f"non-distributed: refused: {exc}")
    del os.environ["AUTOML_MEMORY_LIMIT"]

    # 3. distributed
    seconds, model, rows, peaks = distributed_trial(workdir / "train", args.workers, args.memory, args.rounds)
    X_test, y_test = test.drop(columns=[TARGET]), test[TARGET].to_numpy()
    auc = roc_auc_score(y_test, model.predict_proba(X_test)[:, 1])
    say(f"distributed: {args.workers} workers x {args.memory}, {rows:,} training rows, {args.rounds} rounds: "
        f"{seconds:.1f}s, {rows / seconds:,.0f} rows/s, test AUC {auc:.4f}; peak worker memory "
        f"{', '.join(format_bytes(p) for p in peaks)}")

    # 4. single machine on the largest sample that fits the same limit
    import lightgbm as lgb

    per_row = parquet_memory_estimate(workdir / "train") / args.rows
    fits = int(min(args.rows, limit / per_row))
    sample = pd.concat([pd.read_parquet(p) for p in sorted((workdir / "train").glob("*.parquet"))[: -(-fits // PART_ROWS)]])
    sample = sample.head(fits)
    for column in sample.columns:
        if sample[column].dtype == object or str(sample[column].dtype).startswith("str"):
            sample[column] = sample[column].astype("category")
            X_test[column] = pd.Categorical(X_test[column], categories=sample[column].cat.categories)
    t1 = time.monotonic()
    single = lgb.LGBMClassifier(n_estimators=args.rounds, learning_rate=0.1, num_leaves=31, n_jobs=1, verbose=-1,
                                random_state=0).fit(sample.drop(columns=[TARGET]), sample[TARGET])
    single_seconds = time.monotonic() - t1
    single_auc = roc_auc_score(y_test, single.predict_proba(X_test)[:, 1])
    say(f"single machine: largest sample within {format_bytes(limit)} (x{IN_MEMORY_FACTOR:g} factor) = {fits:,} rows: "
        f"{single_seconds:.1f}s, test AUC {single_auc:.4f}")
    del sample

    # 5. speed-up 1 -> 2 workers on data that fits both ways
    timings = {}
    for workers in (1, 2):
        seconds, _, rows, peaks = distributed_trial(workdir / "speedup", workers, args.memory, args.rounds)
        timings[workers] = seconds
        say(f"speed-up run: {workers} worker(s), {rows:,} rows: {seconds:.1f}s, {rows / seconds:,.0f} rows/s; "
            f"peak worker memory {', '.join(format_bytes(p) for p in peaks)}")
    say(f"speed-up 1 -> 2 workers: {timings[1] / timings[2]:.2f}x")

    # 6. worker memory against lightgbm.dask on the same data (the speed-up set, 2 workers)
    if args.compare_lightgbm_dask:
        seconds, peaks, outcome = lightgbm_dask_trial(workdir / "speedup", 2, args.memory, args.rounds)
        say(f"lightgbm.dask on the speed-up data, 2 workers: {outcome}"
            + (f" in {seconds:.1f}s" if seconds else "")
            + f"; peak worker memory {', '.join(format_bytes(p) for p in peaks)}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
