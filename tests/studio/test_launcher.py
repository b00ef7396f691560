"""`make run` on the embedded default: one command brings up the web server and a real worker on SQLite and
the filesystem broker in one data directory, and Ctrl-C stops both."""
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


def test_launcher_serves_the_studio_and_a_worker_until_ctrl_c(tmp_path):
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
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text(errors="replace")
