"""Fixtures of the fault tests: a control worker running the reaper and the dispatcher under Celery beat,
short lifecycle timings, and a Redis server of the test's own that it can kill and restart (the shared one
on 6379 belongs to everyone)."""
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.studio.experiments.conftest import bank_small, make_version, machine  # noqa: F401
from tests.studio.registry.factories import _serving_state, bank_models, bank_run  # noqa: F401

# Timings of every process in these tests: stale after 6 s, chores every 2 s, lost messages re-sent after 3 s.
FAST = {"STUDIO_STALE_AFTER_SECONDS": "6", "STUDIO_HEARTBEAT_SECONDS": "1", "STUDIO_CHORES_SECONDS": "2",
        "STUDIO_REDISPATCH_SECONDS": "3"}


@pytest.fixture
def fast_lifecycle(settings):
    settings.STUDIO_STALE_AFTER_SECONDS = 6
    settings.STUDIO_HEARTBEAT_SECONDS = 1
    settings.STUDIO_REDISPATCH_SECONDS = 3
    return FAST


@pytest.fixture
def own_queue(settings, worker_factory):
    """A queue of this test's own, so the session's shared worker never takes (or hides) its jobs; the
    lifecycle sends to ``CELERY_TASK_DEFAULT_QUEUE``. Returns a starter of workers on it."""
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE = queue

    def start(queue_name: str | None = None, **kwargs):
        return worker_factory(queue=queue_name or queue, **kwargs)

    start.queue = queue
    return start


@pytest.fixture
def control_worker(own_queue, fast_lifecycle, tmp_path):
    """A one-process worker on the control queue with Celery beat in it, as `make run` starts it."""
    def start(extra_env: dict | None = None):
        control = f"{own_queue.queue}-control"
        env = {**fast_lifecycle, "CELERY_QUEUE": own_queue.queue, "CELERY_CONTROL_QUEUE": control,
               **(extra_env or {})}
        return own_queue(control, concurrency=1, extra_env={**env, "CELERY_QUEUE": own_queue.queue},
                         extra_args=["--beat", "--schedule", str(tmp_path / f"beat-{uuid.uuid4().hex[:6]}")])
    return start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A redis-server without persistence on a port of its own: killing it loses every message, as a
    broker restart without persistence does."""

    def __init__(self, workdir: Path):
        self.port = _free_port()
        self.workdir = workdir
        self.process = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@pytest.fixture
def private_broker(tmp_path, settings):
    """A Redis of this test's own, and this process's Celery app pointed at it (pools rebuilt both ways)."""
    from studio.celery import app

    server = RedisServer(tmp_path).start()
    old = app.conf.broker_url
    app.conf.broker_url = settings.CELERY_BROKER_URL = server.url
    app._after_fork()  # drop the connection and producer pools of the old URL
    yield server
    server.kill()
    app.conf.broker_url = old
    app._after_fork()
