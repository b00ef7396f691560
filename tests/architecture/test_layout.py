"""Promises about the project's shape: the engine stands alone, the compose stack names real modules, and
every environment variable the studio reads is documented."""
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_engine_imports_without_django_or_celery():
    code = "import sys, automl_engine; print(sorted(m for m in ('django', 'celery', 'studio') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_engine_source_never_imports_the_studio():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "automl_engine").rglob("*.py")
                 if re.search(r"^\s*(from|import)\s+(django|celery|studio)\b", p.read_text(), re.M)]
    assert offenders == []


def test_compose_stack_has_the_services_and_their_commands_name_real_modules():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert sorted(services) == ["beat", "dask-scheduler", "dask-worker", "postgres", "redis", "web", "worker"]
    assert "healthcheck" in services["postgres"] and "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]
    for name in ("web", "worker", "beat"):
        assert "studio-data:/data" in services[name]["volumes"], name
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    web = services["web"]["command"]
    assert "migrate --noinput" in web and "collectstatic --noinput" in web and "gunicorn studio.wsgi" in web
    assert "celery -A studio worker" in services["worker"]["command"]
    assert "${CELERY_CONCURRENCY" in services["worker"]["command"]
    for module in ("studio.wsgi", "studio.celery"):
        assert importlib.util.find_spec(module) is not None, module
    from studio.celery import app
    assert app.main == "studio"


def test_compose_runs_a_dask_cluster_whose_workers_share_the_storage_and_scale():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    scheduler, worker = services["dask-scheduler"], services["dask-worker"]
    assert scheduler["command"][:4] == ["dask", "scheduler", "--port", "8786"]
    assert "healthcheck" in scheduler
    assert "dask worker tcp://dask-scheduler:8786" in worker["command"]
    assert "--memory-limit ${DASK_WORKER_MEMORY_LIMIT" in worker["command"]
    assert "studio-data:/data" in worker["volumes"]  # the same paths as the studio's
    assert worker["depends_on"]["dask-scheduler"]["condition"] == "service_healthy"
    # scalable: no fixed container name or host port that a second replica would collide on
    assert "container_name" not in worker and "ports" not in worker
    assert worker["image"] == scheduler["image"] == services["web"]["image"]  # the engine's code on every node
    for name in ("web", "worker", "beat"):
        assert services[name]["environment"]["DASK_SCHEDULER_ADDRESS"] == \
            "${DASK_SCHEDULER_ADDRESS:-tcp://dask-scheduler:8786}"
    assert importlib.util.find_spec("distributed.cli.dask_worker") is not None


def test_every_environment_variable_is_documented():
    read = set()
    for path in (ROOT / "studio").rglob("*.py"):
        read |= set(re.findall(r"env_(?:str|bool|int|list|path)\(\s*\"([A-Z_]+)\"", path.read_text()))
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - documented == set()
    assert {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "STUDIO_DATA_DIR"} <= read
