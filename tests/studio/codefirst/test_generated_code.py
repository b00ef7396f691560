"""The trial page links to generated training code; the downloaded script, run on the downloaded data,
prints the trial's validation score to within 1e-6."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.experiments import services
from studio.experiments.models import Run
from tests.conftest import wait_for
from tests.studio.experiments.conftest import small_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
ROOT = Path(__file__).resolve().parents[3]


def test_generated_code_of_a_studio_trial_reproduces_its_score(team, bank_small, celery_worker, client_for,
                                                                 tmp_path):
    run = services.submit_run(team.workspace, team.bob, small_job(bank_small.dataset_id, limits={"max_trials": 2}))
    wait_for(lambda: Run.objects.get(pk=run.pk).status in ("completed", "failed"), 120, message="the run")
    run = Run.objects.get(pk=run.pk)
    assert run.status == "completed", run.error
    trial = run.trials.order_by("number").first()
    viewer = client_for(team.carol)
    page = viewer.get(f"/experiments/trials/{trial.pk}/").content.decode()
    assert f'href="/code/trials/{trial.pk}/"' in page
    code_page = viewer.get(f"/code/trials/{trial.pk}/")
    assert code_page.status_code == 200
    html = code_page.content.decode()
    assert f"python train_run{run.pk}_trial{trial.number}.py --train run{run.pk}_train.csv" in html
    assert "imported from the <code>automl_engine</code> library" in html

    script = viewer.get(f"/code/trials/{trial.pk}/train.py")
    assert script["Content-Disposition"] == f'attachment; filename="train_run{run.pk}_trial{trial.number}.py"'
    (tmp_path / "train.py").write_bytes(script.content)
    data = viewer.get(f"/code/runs/{run.pk}/data/train.csv")
    assert data.status_code == 200
    (tmp_path / "train.csv").write_bytes(data.content)
    out = subprocess.run([sys.executable, "train.py", "--train", "train.csv", "--json"], cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout.strip().splitlines()[-1])
    assert printed["validation"]["AUC_weighted"] == pytest.approx(trial.score, abs=1e-6)

    assert viewer.get(f"/code/runs/{run.pk}/data/test.csv").status_code == 302  # no test data: back to the run
    assert client_for(team.dave).get(f"/code/trials/{trial.pk}/").status_code == 404
