"""`make run`: prepare the data directory, then run the web server and a Celery worker until Ctrl-C.

Both are real processes: gunicorn serves the studio and ``celery worker --beat`` executes profiles,
experiments and batch scoring and runs the periodic reaper. On the embedded default they share SQLite and
the filesystem broker under the data directory; with DATABASE_URL and CELERY_BROKER_URL set they use
Postgres and Redis instead.
"""
import os
import signal
import subprocess
import sys
import time

from pathlib import Path

from studio.env import env_int, env_str

BASE_DIR = Path(__file__).resolve().parent.parent


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], check=True, cwd=BASE_DIR)


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

    web = subprocess.Popen([
        sys.executable, "-m", "gunicorn", "studio.wsgi", "--bind", f"{host}:{port}",
        "--workers", str(env_int("WEB_CONCURRENCY", 2, minimum=1)), "--threads", "4",
        "--timeout", "600", "--graceful-timeout", "5", "--access-logfile", "-",
    ], cwd=BASE_DIR)
    worker = subprocess.Popen([
        sys.executable, "-m", "celery", "-A", "studio", "worker", "--beat", "--loglevel", "INFO",
        "--concurrency", str(concurrency), "--queues", settings.CELERY_TASK_DEFAULT_QUEUE,
        "--schedule", str(settings.DATA_DIR / "celerybeat-schedule"),
    ], cwd=BASE_DIR)
    processes = {"web": web, "worker": worker}

    def stop(*_):
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while all(p.poll() is None for p in processes.values()):
        time.sleep(0.5)
    stop()  # one of them ended: take the other down too
    deadline = time.monotonic() + 15
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    failed = [name for name, p in processes.items() if p.returncode not in (0, -signal.SIGTERM, None)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
