"""Real series for the forecasting tests (the Azure tutorial samples under examples/data)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[3] / "examples" / "data"


@pytest.fixture(scope="session")
def beer() -> pd.DataFrame:
    """Monthly US beer production 1992-2016 (300 rows, one series)."""
    return pd.read_csv(DATA / "Beer_no_valid_split_train.csv")


@pytest.fixture(scope="session")
def oj_many() -> pd.DataFrame:
    """Weekly orange-juice sales, 99 complete series (Store x Brand) of 121 weeks; Revenue (a target leak)
    dropped."""
    return pd.read_csv(DATA / "oj_sales_data.csv").drop(columns=["Revenue"])


@pytest.fixture(scope="session")
def github() -> pd.DataFrame:
    """Daily GitHub active users 2011-2018 with two missing days."""
    return pd.read_csv(DATA / "github_dau_2011-2018_train.csv")
