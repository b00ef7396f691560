"""The endpoint page's curl, Python and JavaScript snippets, run as pasted against a live endpoint."""
import json
import os
import subprocess
import sys
from urllib.parse import urlparse

import pytest

from studio.registry import services as registry
from studio.serving import services

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_snippet_scores_the_example_against_a_live_endpoint(team, bank_run, client_for, live_server, tmp_path):
    version = registry.register_version(trial=bank_run.trials.order_by("number").first(), name="bank",
                                        user=team.alice)
    # A missing value and a quote in a text value: JSON null is not Python, and ' ends a shell string.
    version.sample_input = {**version.sample_input, "job": None, "marital": "it's complicated"}
    version.save(update_fields=["sample_input"])
    endpoint, key = services.create_endpoint(workspace=team.workspace, user=team.alice, name="bank-ep",
                                             model_version=version)
    address = urlparse(live_server.url)
    page = client_for(team.carol).get(f"/endpoints/{endpoint.pk}/", SERVER_NAME=address.hostname,
                                      SERVER_PORT=str(address.port))
    snippets = page.context["snippets"]
    assert set(snippets) == {"curl", "python", "javascript"}
    for name in snippets:
        assert f'data-testid="snippet-{name}"' in page.content.decode()
    env = {**os.environ, "ENDPOINT_KEY": key}
    runs = {
        "curl": ["bash", "-c", snippets["curl"] + " --silent --show-error --fail-with-body"],
        "python": [sys.executable, "-c", snippets["python"]],
        "javascript": ["node", "-e", snippets["javascript"]],
    }
    for name, command in runs.items():
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (name, done.stdout, done.stderr)
        out = done.stdout.strip()
        if name == "python":
            answer = eval(out, {})  # the snippet prints the decoded dict
        elif name == "javascript":
            status, _, text = out.partition(" ")
            assert status == "200", out
            answer = json.loads(text)
        else:
            answer = json.loads(out)
        assert answer["predictions"][0] in ("no", "yes") and answer["classes"] == ["no", "yes"], (name, out)
