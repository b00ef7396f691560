"""Where distributed training runs: a Dask scheduler given by address, or a ``LocalCluster`` of worker
processes with memory limits started for the run (so distributed mode can be tried on one machine)."""
from __future__ import annotations

import logging
import multiprocessing
import os
from dataclasses import dataclass
from typing import Any

# Each local worker process gets this much memory unless told otherwise: well below a small machine's RAM,
# so a run that needs more spills to disk or fails its trial instead of taking the machine down.
DEFAULT_WORKER_MEMORY = "2GiB"


@dataclass(frozen=True)
class ClusterConfig:
    """``scheduler_address``: a running Dask scheduler (``tcp://host:8786``); ``None`` starts a
    ``LocalCluster`` of ``max_nodes`` worker processes, one thread each, ``worker_memory_limit`` each."""

    scheduler_address: str | None = None
    worker_memory_limit: str = DEFAULT_WORKER_MEMORY
    threads_per_worker: int = 1

    @classmethod
    def from_env(cls) -> "ClusterConfig":
        """``DASK_SCHEDULER_ADDRESS`` and ``DASK_WORKER_MEMORY_LIMIT`` from the environment."""
        return cls(scheduler_address=os.environ.get("DASK_SCHEDULER_ADDRESS") or None,
                   worker_memory_limit=os.environ.get("DASK_WORKER_MEMORY_LIMIT") or DEFAULT_WORKER_MEMORY)


class Cluster:
    """A connected client, and the local cluster behind it when this process started one. Use as a context
    manager: a local cluster is closed on exit, a remote one is only disconnected from."""

    def __init__(self, config: ClusterConfig | Any = None, n_workers: int = 1):
        self.config = config
        self.n_workers = n_workers
        self.local = None
        self.client = None
        self.owns_client = True

    def __enter__(self) -> "Cluster":
        from distributed import Client, LocalCluster

        config = self.config
        if isinstance(config, Client):
            self.client, self.owns_client = config, False
            return self
        config = config if isinstance(config, ClusterConfig) else ClusterConfig.from_env()
        if config.scheduler_address:
            self.client = Client(config.scheduler_address, timeout="20s")
        elif multiprocessing.current_process().daemon:
            # A daemonic process (a Celery prefork child) may not fork worker processes of its own: start the
            # scheduler and the nanny-supervised workers as separate programs instead.
            from distributed.deploy.subprocess import SubprocessCluster

            self.local = SubprocessCluster(n_workers=self.n_workers, threads_per_worker=config.threads_per_worker,
                                           worker_kwargs={"memory_limit": config.worker_memory_limit},
                                           dashboard_address=":0", silence_logs=40)
            self.client = Client(self.local)
            self.client.wait_for_workers(self.n_workers, timeout=120)
        else:
            self.local = LocalCluster(n_workers=self.n_workers, threads_per_worker=config.threads_per_worker,
                                      processes=True, memory_limit=config.worker_memory_limit,
                                      dashboard_address=":0", silence_logs=40)
            self.client = Client(self.local)
            self.client.wait_for_workers(self.n_workers, timeout=120)
        return self

    def __exit__(self, *exc) -> None:
        if self.owns_client and self.client is not None:
            self.client.close()
        if self.local is not None:
            try:
                self.local.close()
            except Exception:  # noqa: BLE001 - Dask's own bookkeeping after a restart; the processes are ending
                logging.getLogger("automl_engine").warning("closing the local Dask cluster raised", exc_info=True)

    def describe(self) -> dict[str, Any]:
        """Workers, threads and memory limits as the scheduler sees them (for the run page and the log)."""
        return describe_client(self.client, local=self.local is not None)


def describe_client(client, local: bool = False) -> dict[str, Any]:
    info = scheduler_identity(client)
    workers = []
    for address, worker in sorted(info.get("workers", {}).items()):
        metrics = worker.get("metrics", {})
        workers.append({"address": address, "name": str(worker.get("name", "")), "threads": worker.get("nthreads"),
                        "memory_limit": worker.get("memory_limit"), "memory_used": metrics.get("memory")})
    return {"scheduler": info.get("address"), "local": local, "workers": workers,
            "n_workers": len(workers), "total_memory": sum(w["memory_limit"] or 0 for w in workers)}


def scheduler_identity(client) -> dict[str, Any]:
    """The scheduler's identity with every worker, asked for now. ``client.scheduler_info()`` is not used:
    it returns the client's shared cache, which its own periodic refresh (every 2 s) overwrites with an
    identity that lists no workers, so a call that races the refresh reads an empty cluster."""
    return client.sync(client.scheduler.identity, n_workers=-1)


def worker_addresses(client) -> set[str]:
    return set(scheduler_identity(client)["workers"])


def check_scheduler(address: str, timeout: float = 3.0) -> dict[str, Any]:
    """Connect to the scheduler at ``address`` and describe it; raises ``OSError``/``TimeoutError`` when it
    does not answer within ``timeout`` seconds (used by the studio's health check)."""
    from distributed import Client

    with Client(address, timeout=f"{timeout}s") as client:
        return describe_client(client)
