"""Where trials run. ``TrialExecutor`` is the protocol of docs/engine-seam.md; ``LocalProcessExecutor`` is
the default: long-lived child processes (one per concurrent trial) that a runaway trial can be killed in.
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path

from typing import Any, Protocol

from .trial import FAILED, TrialOutcome, TrialTask, thread_env


class TrialExecutor(Protocol):
    """Anything that can evaluate trials somewhere and report back (the studio's Celery executor)."""

    def submit(self, task: TrialTask) -> str: ...

    def poll(self) -> list[tuple[str, TrialOutcome | dict]]: ...

    def cancel(self, handle: str) -> None: ...

    def shutdown(self) -> None: ...


class _Worker:
    """One child Python process (``python -m automl_engine.worker``) speaking JSON lines on stdin/stdout.

    A plain subprocess, not multiprocessing: it does not re-import the caller's ``__main__`` (scripts and
    notebooks need no ``if __name__ == "__main__"`` guard) and it can be killed at any moment."""

    def __init__(self, n_threads: int):
        env = {**os.environ, **thread_env(n_threads)}
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.process = subprocess.Popen([sys.executable, "-m", "automl_engine.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
                                        bufsize=1)
        self.results: queue.Queue = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.handle: str | None = None
        self.task: TrialTask | None = None

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                self.results.put(json.loads(line))
            except json.JSONDecodeError:
                continue

    def send(self, handle: str, task: TrialTask) -> None:
        self.handle, self.task = handle, task
        self.process.stdin.write(json.dumps({"handle": handle, "task": task.to_dict()}) + "\n")
        self.process.stdin.flush()

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the child and return at once: on a busy machine a killed process can take seconds to be torn
        down, and waiting for it here held up the run's final steps (and its end) by as much. A daemon thread
        reaps it."""
        if self.alive():
            self.process.kill()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        threading.Thread(target=_reap, args=(self.process,), daemon=True).start()


def _reap(process: subprocess.Popen) -> None:
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pass


class LocalProcessExecutor:
    """A pool of ``n_workers`` child processes; each runs one trial at a time with ``n_threads``
    native threads. ``cancel`` kills the worker running the trial (a fresh one replaces it)."""

    def __init__(self, n_workers: int = 1, n_threads: int = 1):
        self.n_workers = max(1, int(n_workers))
        self.n_threads = max(1, int(n_threads))
        self._workers: list[_Worker] = []
        self._pending: list[tuple[str, TrialTask]] = []
        self._done: list[tuple[str, TrialOutcome | dict]] = []
        self._ids = itertools.count()

    def start(self) -> "LocalProcessExecutor":
        while len(self._workers) < self.n_workers:
            self._workers.append(_Worker(self.n_threads))
        return self

    def submit(self, task: TrialTask) -> str:
        handle = f"local-{next(self._ids)}"
        self._pending.append((handle, task))
        self._dispatch()
        return handle

    def _dispatch(self) -> None:
        self.start()
        for worker in self._workers:
            if not self._pending:
                return
            if worker.handle is None:
                handle, task = self._pending.pop(0)
                worker.send(handle, task)

    def poll(self) -> list[tuple[str, TrialOutcome | dict]]:
        for i, worker in enumerate(self._workers):
            if worker.handle is None:
                continue
            try:
                message = worker.results.get_nowait()
            except queue.Empty:
                message = None
            if message is not None:
                self._done.append((message["handle"], message["outcome"]))
                worker.handle, worker.task = None, None
                continue
            if not worker.alive():
                # The child died (out of memory, segfault in a native library): report, replace.
                task = worker.task
                self._done.append((worker.handle, TrialOutcome(
                    number=task.number, status=FAILED, algorithm=task.algorithm,
                    hyperparameters=task.hyperparameters,
                    error=f"worker process died with exit code {worker.process.returncode}")))
                worker.kill()
                self._workers[i] = _Worker(self.n_threads)
        self._dispatch()
        done, self._done = self._done, []
        return done

    def cancel(self, handle: str) -> None:
        self._pending = [(h, t) for h, t in self._pending if h != handle]
        for i, worker in enumerate(self._workers):
            if worker.handle == handle:
                worker.kill()
                self._workers[i] = _Worker(self.n_threads)
        self._dispatch()

    def shutdown(self) -> None:
        # Idle or busy, every worker is killed at once: a worker holds no state worth an orderly exit, and
        # waiting for each in turn (up to half a second for an idle one still importing) added to the run.
        for worker in self._workers:
            worker.kill()
        self._workers = []
        self._pending = []


class InlineExecutor:
    """Evaluates each trial in the calling process (no isolation, no per-trial kill). For debugging and
    for environments that cannot spawn processes."""

    def __init__(self) -> None:
        self._done: list[tuple[str, Any]] = []
        self._ids = itertools.count()

    def submit(self, task: TrialTask) -> str:
        from .trial import evaluate_trial

        handle = f"inline-{next(self._ids)}"
        self._done.append((handle, evaluate_trial(task.to_dict())))
        return handle

    def poll(self):
        done, self._done = self._done, []
        return done

    def cancel(self, handle: str) -> None:
        pass

    def shutdown(self) -> None:
        pass


