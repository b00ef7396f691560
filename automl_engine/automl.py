"""``from automl_engine import automl`` mirrors ``from azure.ai.ml import automl``, so a seed snippet's
``automl.classification(...)`` and ``automl.ColumnTransformer(...)`` run with only the import line changed."""
from .job import classification, regression
from .sdk import ColumnTransformer, Input

__all__ = ["ColumnTransformer", "Input", "classification", "regression"]
