"""Fixtures for the engine tests: small slices of the Azure tutorial samples and tiny constructed frames.
No Django: these tests only import automl_engine."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SAMPLES = ROOT.parent / "shared" / "data" / "samples"
EXAMPLES = ROOT / "examples" / "data"


def _sample(name: str, shared: str) -> Path:
    local = EXAMPLES / name
    return local if local.exists() else SAMPLES / shared / name


@pytest.fixture(scope="session")
def bank_df() -> pd.DataFrame:
    """300 rows of the bank marketing training sample (binary target ``y``, ~11% "yes")."""
    df = pd.read_csv(_sample("bank_marketing_train_data.csv", "bank_marketing"))
    return df.sample(300, random_state=0).reset_index(drop=True)


@pytest.fixture(scope="session")
def hardware_df() -> pd.DataFrame:
    """The 209-row hardware performance sample (regression target ``PRP``)."""
    return pd.read_csv(_sample("machine_full_209rows.csv", "hardware_performance"))


@pytest.fixture
def mixed_df() -> pd.DataFrame:
    """120 rows with one column of every kind featurization distinguishes."""
    rng = np.random.RandomState(0)
    n = 120
    x = rng.normal(size=n)
    return pd.DataFrame({
        "num": np.where(np.arange(n) % 10 == 0, np.nan, x),
        "cat": rng.choice(["a", "b", "c"], size=n),
        "high": [f"h{i % 60}" for i in range(n)],
        "const": 1,
        "empty": np.nan,
        "row_id": np.arange(n),
        "when": pd.date_range("2020-01-01", periods=n, freq="37h").astype(str),
        "note": [f"the quick brown fox number {i} jumps over the lazy dog {i % 5}" for i in range(n)],
        "label": np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
    })
