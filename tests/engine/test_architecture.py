"""The engine is a library: importing it must not pull in the studio's frameworks."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_does_not_load_django_or_celery():
    code = ("import sys, automl_engine; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery', 'studio')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_engine_sources_never_import_the_studio():
    for path in (ROOT / "automl_engine").rglob("*.py"):
        text = path.read_text()
        for name in ("django", "celery", "studio"):
            assert f"import {name}" not in text and f"from {name}" not in text, path
