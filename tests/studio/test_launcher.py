"""`make run` on the embedded default: one command brings up the web server, a real worker and the control
worker on SQLite and the filesystem broker in one data directory, restarts whichever dies, and Ctrl-C stops
them all."""
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of the direct children of ``pid``, from /proc."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            out.append((int(child), cmdline))
    return out


def _health(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except OSError:
        return None


def test_launcher_serves_the_studio_restarts_a_killed_worker_and_stops_on_ctrl_c(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL")}
    env.update(STUDIO_DATA_DIR=str(tmp_path / "data"), STUDIO_PORT=str(port), CELERY_CONCURRENCY="1",
               WEB_CONCURRENCY="1", STATIC_ROOT=str(tmp_path / "static"))
    log = tmp_path / "launcher.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "studio.launcher"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        health = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    health = json.loads(response.read())
                if b"ready." in log.read_bytes():
                    break
            except OSError:
                pass
            time.sleep(0.5)
        text = log.read_text(errors="replace")
        assert health == {"database": "ok", "broker": "ok", "status": "ok"}, text
        assert "ready." in text, text
        assert "create the administrator account" in text
        assert (tmp_path / "data" / "studio.sqlite3").exists()
        assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o777 == 0o600
        # The first visit leads to the page that creates the first admin.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
            assert response.url.endswith("/setup/")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/vendor/htmx/htmx.min.js", timeout=5) as r:
            assert r.status == 200

        # The out-of-memory killer takes the worker: the web server keeps serving and the worker comes back.
        deadline = time.monotonic() + 60
        while log.read_text(errors="replace").count("ready.") < 2 and time.monotonic() < deadline:
            time.sleep(0.5)  # both workers up
        worker = next(pid for pid, cmd in _children(process.pid) if "celery" in cmd and "worker@" in cmd)
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while "the worker exited with code -9" not in log.read_text(errors="replace") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _health(port) == {"database": "ok", "broker": "ok", "status": "ok"}
        while log.read_text(errors="replace").count("ready.") < 3 and time.monotonic() < deadline:
            assert _health(port) is not None  # served all along
            time.sleep(0.5)
        text = log.read_text(errors="replace")
        assert "the worker exited with code -9; starting it again in 1 s, the other processes keep running" in text
        assert text.count("ready.") == 3, text
        assert process.poll() is None
        new_worker = next(pid for pid, cmd in _children(process.pid) if "celery" in cmd and "worker@" in cmd)
        assert new_worker != worker
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text(errors="replace")
