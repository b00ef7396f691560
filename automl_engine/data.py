"""Loading data, holding out test data, choosing the validation method (the seed's rules) and folds.

The splits themselves come from the task's splitter (:mod:`automl_engine.tasks.splits`); :func:`make_folds`
is their fold-number-per-row view for tabular tasks."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import ConfigError

SMALL_DATA_ROWS = 1_000
LARGE_DATA_ROWS = 20_000


def load_frame(data: Any, setting: str = "training_data", base_dir: Path | None = None) -> pd.DataFrame | None:
    """A DataFrame from a DataFrame, a CSV/TSV/Parquet path, or None."""
    if data is None:
        return None
    if isinstance(data, pd.DataFrame):
        return data.reset_index(drop=True)
    if isinstance(data, dict):
        data = data.get("path")
    path = Path(data)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".parquet", ".tsv"))
        if not files:
            raise ConfigError(setting, f"folder {path} holds no .csv, .tsv or .parquet file")
        path = files[0]
    if not path.exists():
        raise ConfigError(setting, f"file {path} does not exist")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")


def split_test(df: pd.DataFrame, config: Any, test_df: pd.DataFrame | None,
               stratify: bool | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Hold out the test data before anything else looks at the training data; ``stratify`` (by default:
    the task has classes) stratifies by the target when every class has two rows."""
    if test_df is not None or not config.test_data_size:
        return df, test_df
    from sklearn.model_selection import train_test_split

    from .tasks import get_task

    if stratify is None:
        stratify = get_task(config.task).has_classes
    y = df[config.target_column_name]
    stratify = y if stratify and y.value_counts().min() >= 2 else None
    train, test = train_test_split(df, test_size=config.test_data_size, random_state=config.random_state,
                                   stratify=stratify)
    return train.reset_index(drop=True), test.reset_index(drop=True)


def choose_validation(n_rows: int, config: Any, has_validation_data: bool) -> dict[str, Any]:
    """The seed's rules: user settings win; otherwise <1,000 rows 10-fold CV, up to 20,000 rows 3-fold
    CV, above that a 10% holdout."""
    if has_validation_data:
        return {"method": "holdout", "source": "validation_data", "n_folds": 1, "validation_size": None,
                "reason": "validation_data given"}
    if config.n_cross_validations:
        return {"method": "cv", "source": "user", "n_folds": int(config.n_cross_validations),
                "validation_size": None, "reason": "n_cross_validations given"}
    if config.validation_data_size:
        return {"method": "holdout", "source": "user", "n_folds": 1,
                "validation_size": float(config.validation_data_size), "reason": "validation_data_size given"}
    if n_rows < SMALL_DATA_ROWS:
        return {"method": "cv", "source": "auto", "n_folds": 10, "validation_size": None,
                "reason": f"{n_rows} rows < {SMALL_DATA_ROWS}: 10-fold cross-validation"}
    if n_rows <= LARGE_DATA_ROWS:
        return {"method": "cv", "source": "auto", "n_folds": 3, "validation_size": None,
                "reason": f"{n_rows} rows between {SMALL_DATA_ROWS} and {LARGE_DATA_ROWS}: 3-fold cross-validation"}
    return {"method": "holdout", "source": "auto", "n_folds": 1, "validation_size": 0.1,
            "reason": f"{n_rows} rows > {LARGE_DATA_ROWS}: 10% holdout validation"}


def make_folds(y: np.ndarray, validation: dict[str, Any], problem_type: str, random_state: int,
               n_validation_rows: int = 0) -> np.ndarray:
    """Fold id of every training row (``-1`` = train only) from the task's splitter. With separate
    validation data its rows come last and form fold 0."""
    from .tasks import get_task, make_splits
    from .tasks.splits import folds_of

    splitter = get_task(problem_type).splitter(validation, random_state, n_validation_rows)
    return folds_of(make_splits(splitter, None, np.asarray(y)), len(y))
