"""Distributed training on Dask (``training_mode="distributed"``): LightGBM's Dask estimators over the
partitions of a Parquet or CSV dataset, trials one after another on a Dask cluster, holdout validation,
featurization learned over partitions; the model is saved in the engine's artifact format and predicts on
one machine. Cross-validation, ensembles, ONNX, code generation and explanations are not available in this
mode (:mod:`.settings` refuses them by name)."""
from .cluster import ClusterConfig, check_scheduler
from .search import run_distributed

__all__ = ["ClusterConfig", "check_scheduler", "run_distributed"]
