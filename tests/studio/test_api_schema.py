"""schemathesis against /api/v1/schema/ on a live studio with data in it, with every check: no server error,
no undocumented status code or content type, every body matching its schema, bad credentials refused.

schemathesis lives in a virtual environment of its own, pinned here, because its dependencies (hypothesis,
jsonschema, werkzeug) would otherwise pin the studio's; it is created on first use, once per machine and
outside the checkout (as the MLflow test's environment), so that a fresh clone's run does not build it again.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.studio.experiments.conftest import bank_small, make_version  # noqa: F401
from tests.studio.registry.factories import _serving_state, bank_models, bank_run  # noqa: F401

PINS = ["schemathesis==3.39.16", "hypothesis==6.122.3"]
VENV = Path(os.environ.get("SCHEMATHESIS_VENV") or Path.home() / ".cache" / "automl-studio" / "schemathesis-3.39.16")

pytestmark = [pytest.mark.django_db(transaction=True)]


def _schemathesis() -> Path:
    exe = VENV / "bin" / "schemathesis"
    stamp = VENV / "pins.txt"
    if not exe.exists() or not stamp.exists() or stamp.read_text() != "\n".join(PINS):
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *PINS], check=True)
        stamp.write_text("\n".join(PINS))
    return exe


def test_the_api_answers_as_its_schema_says(live_server, team, bank_small, bank_run, settings):
    from rest_framework.authtoken.models import Token

    from studio.experiments import services as experiments
    from studio.registry import services as registry
    from studio.serving import services as serving
    from tests.studio.experiments.conftest import small_job

    settings.STUDIO_AUTH_FAILURES_PER_IP = 10**6  # the fuzzer sends bad tokens on purpose; it must not be locked out
    experiments.submit_run(team.workspace, team.alice, small_job(bank_small.dataset_id))
    version = registry.register_version(trial=bank_run.trials.filter(is_ensemble=False).first(), name="bank",
                                        user=team.alice)
    serving.create_endpoint(workspace=team.workspace, user=team.alice, name="bank-ep", model_version=version)
    registry.set_alias(version.model, "champion", version.version, team.alice)
    token = Token.objects.create(user=team.alice).key

    def schemathesis(*args: str) -> str:
        result = subprocess.run(
            [str(_schemathesis()), "run", f"{live_server.url}/api/v1/schema/", "--checks", "all",
             "-H", f"Authorization: Token {token}", "--hypothesis-max-examples", "8", "--hypothesis-deadline", "none",
             "--hypothesis-seed", "13", "--no-color", *args],
            capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"})
        report = result.stdout + result.stderr
        assert result.returncode == 0, report[-6000:]
        assert "not_a_server_error" in report and "FAILED" not in report
        return report

    # Everything but DELETE first, so that the objects stay for the other operations; then DELETE, on names
    # the fuzzer makes up and on the endpoint and the alias this test made (which must then be gone).
    schemathesis("--exclude-method", "DELETE")
    schemathesis("--include-method", "DELETE")
    schemathesis("--include-method", "DELETE", "--include-path-regex", "aliases", "--set-path", "name=bank",
                 "--set-path", "alias=champion")
    schemathesis("--include-method", "DELETE", "--include-path-regex", "endpoints", "--set-path", "name=bank-ep")
    from studio.registry.models import ModelAlias
    from studio.serving.models import Endpoint

    assert not Endpoint.objects.filter(name="bank-ep").exists()
    assert not ModelAlias.objects.filter(name="champion").exists()
