"""`make run`: prepare the data directory, then run and supervise the studio's processes until Ctrl-C.

Three real processes: gunicorn serves the studio; a Celery worker executes profiles, experiments and batch
scoring; a one-process control worker runs Celery beat and the lifecycle's chores (the reaper and the
dispatcher) on a queue of its own, so a long run never delays them. On the embedded default they share
SQLite and the filesystem broker under the data directory; with DATABASE_URL and CELERY_BROKER_URL set they
use Postgres and Redis instead.

Each process is supervised on its own: one that dies (a crash, the out-of-memory killer) is started again
after a backoff that doubles from one second up to thirty while the others keep running. Ctrl-C (or
SIGTERM) stops them all.
"""
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from studio.env import env_int, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
BACKOFF_START, BACKOFF_MAX = 1.0, 30.0
# A process that stayed up this long had a fresh crash, not a crash loop: its backoff starts over.
HEALTHY_AFTER_SECONDS = 60.0


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], check=True, cwd=BASE_DIR)


def _say(message: str) -> None:
    print(f"[launcher] {message}", flush=True)


@dataclass
class Supervised:
    """One command kept running: restarted with a doubling backoff whenever it exits on its own."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_START
    restart_at: float | None = None
    restarts: int = field(default=0)

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, cwd=BASE_DIR)
        self.started_at = time.monotonic()
        self.restart_at = None

    def check(self, now: float) -> None:
        """Notice an exit and schedule the restart; start it again once its backoff has passed."""
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                _say(f"starting the {self.name} again (restart {self.restarts})")
                self.start()
            return
        code = self.process.poll()
        if code is None:
            return
        if now - self.started_at >= HEALTHY_AFTER_SECONDS:
            self.backoff = BACKOFF_START
        _say(f"the {self.name} exited with code {code}; starting it again in {self.backoff:.0f} s, "
             "the other processes keep running")
        self.restart_at = now + self.backoff
        self.backoff = min(BACKOFF_MAX, self.backoff * 2)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    host = env_str("STUDIO_HOST", "127.0.0.1")
    port = env_int("STUDIO_PORT", 8000, minimum=1)
    concurrency = env_int("CELERY_CONCURRENCY", max(1, (os.cpu_count() or 2) // 2), minimum=1)

    _manage("migrate", "--noinput", "-v", "0")
    _manage("collectstatic", "--noinput", "-v", "0")
    _manage("studio_welcome", "--url", f"http://{host}:{port}/")

    import django
    django.setup()
    from django.conf import settings

    celery = [sys.executable, "-m", "celery", "-A", "studio", "worker", "--loglevel", "INFO"]
    processes = [
        Supervised("web server", [
            sys.executable, "-m", "gunicorn", "studio.wsgi", "--bind", f"{host}:{port}",
            "--workers", str(env_int("WEB_CONCURRENCY", 2, minimum=1)), "--threads", "4",
            "--timeout", "600", "--graceful-timeout", "5", "--access-logfile", "-"]),
        Supervised("worker", [*celery, "--concurrency", str(concurrency), "--queues",
                              settings.CELERY_TASK_DEFAULT_QUEUE, "-n", "worker@%h"]),
        Supervised("control worker", [*celery, "--beat", "--concurrency", "1", "--queues",
                                      settings.CELERY_CONTROL_QUEUE, "-n", "control@%h",
                                      "--schedule", str(settings.DATA_DIR / "celerybeat-schedule")]),
    ]
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for supervised in processes:
        supervised.start()
    while not stopping:
        now = time.monotonic()
        for supervised in processes:
            supervised.check(now)
        time.sleep(0.2)
    _say("stopping")
    for supervised in processes:
        supervised.terminate()
    deadline = time.monotonic() + 15
    for supervised in processes:
        supervised.wait(deadline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
