"""Swapping versions under traffic: every request during the swap is answered by one version or the other."""
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from studio.registry import services as registry
from studio.serving import services
from tests.studio.registry.factories import sample_rows

pytestmark = pytest.mark.django_db(transaction=True)


def test_swap_versions_without_dropping_requests(team, bank_run, bank_models, live_server):
    trials = list(bank_run.trials.filter(is_ensemble=False).order_by("number"))
    v1 = registry.register_version(trial=trials[0], name="bank", user=team.alice)
    v2 = registry.register_version(trial=trials[1], name="bank", user=team.alice)
    endpoint, key = services.create_endpoint(workspace=team.workspace, user=team.alice, name="swap-ep", model_version=v1)
    services.add_deployment(endpoint, v2, user=team.alice, name="green")
    body = json.dumps({"data": sample_rows(bank_models)}).encode()
    statuses, deployments, stop = [], [], threading.Event()

    def client():
        while not stop.is_set():
            request = urllib.request.Request(f"{live_server.url}/api/v1/endpoints/swap-ep/score/", data=body,
                                             headers={"Authorization": f"Bearer {key}",
                                                      "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    statuses.append(response.status)
                    deployments.append(response.headers["X-Deployment"])
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)

    threads = [threading.Thread(target=client) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for shares in ({"bank-v1": 0, "green": 100}, {"bank-v1": 100, "green": 0}, {"bank-v1": 0, "green": 100}):
            count = len(statuses)
            services.set_traffic(endpoint, shares)
            deadline = time.monotonic() + 30
            while len(statuses) < count + 6 and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(statuses) >= 18
    assert set(statuses) == {200}
    assert {"bank-v1", "green"} <= set(deployments)
    assert deployments[-1] == "green"
