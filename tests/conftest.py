"""Fixtures shared by the studio tests: the alice/bob/carol/dave team, clients, a real Celery worker
process, and a real headless Chromium.

The team: alice owns the workspace "Team", bob is an editor there, carol a viewer, and dave an outsider
(he has only his personal workspace).
"""
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "examples" / "data"


@dataclass
class Team:
    workspace: object
    alice: object
    bob: object
    carol: object
    dave: object

    def by_role(self, role: str):
        return {"owner": self.alice, "editor": self.bob, "viewer": self.carol, "outsider": self.dave}[role]


@pytest.fixture(scope="session")
def storage_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("storage")


@pytest.fixture(autouse=True)
def _isolated_storage(request, storage_dir):
    """Uploaded files and artifacts of tests go to a temporary folder shared with the worker process."""
    if "django_db_setup" not in request.fixturenames and "db" not in request.fixturenames \
            and "transactional_db" not in request.fixturenames and "live_server" not in request.fixturenames:
        yield
        return
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = str(storage_dir)
    yield


@pytest.fixture(autouse=True)
def _own_cache(settings):
    """A fresh in-memory cache per test, so that throttling counters never carry over from another test."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": uuid.uuid4().hex}}


@pytest.fixture
def team(db) -> Team:
    from studio.accounts import services
    from studio.accounts.models import Role

    alice = services.create_user(username="alice", password="alice-pass-123")
    bob = services.create_user(username="bob", password="bob-pass-123")
    carol = services.create_user(username="carol", password="carol-pass-123")
    dave = services.create_user(username="dave", password="dave-pass-123")
    workspace = services.create_workspace(name="Team", owner=alice)
    services.set_member_role(workspace, bob, Role.EDITOR)
    services.set_member_role(workspace, carol, Role.VIEWER)
    for user in (bob, carol):
        services.switch_workspace(user, workspace)
    return Team(workspace=workspace, alice=alice, bob=bob, carol=carol, dave=dave)


@pytest.fixture
def client_for(client):
    """A browser-like test client signed in as the given user."""
    from django.test import Client

    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make


@pytest.fixture
def api_for():
    """An API client authenticating as the given user with a real token header."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def make(user):
        token, _ = Token.objects.get_or_create(user=user)
        c = APIClient()
        c.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return c

    return make


# --- A real Celery worker ----------------------------------------------------------------------------


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


class WorkerProcess:
    """A `celery worker` subprocess on the test database, the configured broker and the test storage."""

    def __init__(self, queue: str, storage: Path, concurrency: int = 1, extra_env: dict | None = None,
                 extra_args: list[str] | None = None):
        self.queue, self.storage, self.concurrency = queue, storage, concurrency
        self.extra_env = extra_env or {}
        self.extra_args = extra_args or []
        self.process: subprocess.Popen | None = None
        self.log_path = storage.parent / f"worker-{uuid.uuid4().hex[:6]}.log"

    def start(self) -> "WorkerProcess":
        env = {**os.environ, "DATABASE_URL": _database_url(), "STUDIO_STORAGE_DIR": str(self.storage),
               "CELERY_QUEUE": self.queue, "DB_CONN_MAX_AGE": "0", **self.extra_env}
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "studio", "worker", "--loglevel", "INFO", "--pool", "prefork",
             "--concurrency", str(self.concurrency), "--queues", self.queue, "--without-gossip", "--without-mingle",
             "-n", f"test-{uuid.uuid4().hex[:8]}@%h", *self.extra_args],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in self.log_path.read_bytes():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log()}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after 60 s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole worker process group, as an out-of-memory killer or a power cut would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "_log", None):
            self._log.close()


@pytest.fixture(scope="session")
def worker_queue() -> str:
    """A queue of this test session's own, so leftovers of other runs on a shared broker never reach it."""
    return f"studio-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def _route_to_test_queue(worker_queue):
    from django.conf import settings

    from studio.celery import app

    settings.CELERY_TASK_DEFAULT_QUEUE = worker_queue
    app.conf.task_default_queue = worker_queue
    return worker_queue


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, _route_to_test_queue, storage_dir):
    """One real worker process for the session; tests using it need ``transactional_db``."""
    worker = WorkerProcess(_route_to_test_queue, storage_dir, concurrency=2).start()
    yield worker
    worker.stop()


@pytest.fixture
def worker_factory(django_db_setup, _route_to_test_queue, storage_dir):
    """Start extra workers a test can kill; all are stopped at the end of the test."""
    started = []

    def make(queue: str | None = None, **kwargs) -> WorkerProcess:
        worker = WorkerProcess(queue or _route_to_test_queue, storage_dir, **kwargs).start()
        started.append(worker)
        return worker

    yield make
    for worker in started:
        worker.stop()


def wait_for(predicate, timeout: float = 60, interval: float = 0.25, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail the test with ``message`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout} s waiting for {message}")


# --- A real browser ----------------------------------------------------------------------------------

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
        ])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    # Playwright's wait_for_function and evaluate compile strings in the page, which the studio's CSP
    # forbids; the test's own scripts bypass it. tests/e2e/test_csp.py drives the pages with it enforced.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1400, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


@pytest.fixture
def screenshots_dir() -> Path:
    """Screenshots taken by browser tests, kept for people to look at (var/screenshots)."""
    path = ROOT / "var" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sign_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)
