"""Which job settings distributed mode takes, and the errors, named by setting, for those it does not."""
from __future__ import annotations

from ..errors import ConfigError

TRAINING_MODES = ("non_distributed", "distributed")
DISTRIBUTED_TASKS = ("classification", "regression")
DISTRIBUTED_ALGORITHMS = ("LightGBM",)
# Training flags that default to on but have no distributed implementation: switched off when a job turns
# distributed mode on, refused by name if then asked for.
DISTRIBUTED_OFF = ("enable_vote_ensemble", "enable_stack_ensemble", "enable_model_explainability")


def validate_training_mode(config) -> None:
    """Raise :class:`ConfigError` naming the first setting that distributed mode cannot honour."""
    training, limits = config.training, config.limits
    if training.training_mode not in TRAINING_MODES:
        raise ConfigError("training.training_mode", f"unknown mode {training.training_mode!r}; use one of "
                                                    f"{list(TRAINING_MODES)}")
    if not isinstance(limits.max_nodes, int) or isinstance(limits.max_nodes, bool) or limits.max_nodes < 1:
        raise ConfigError("limits.max_nodes", "must be an integer of at least 1")
    if training.training_mode != "distributed":
        return
    if config.task not in DISTRIBUTED_TASKS:
        raise ConfigError("training.training_mode", f"distributed training supports classification and regression, "
                                                    f"not {config.task}; run it non-distributed")
    for key, what in (("enable_vote_ensemble", "ensembles"), ("enable_stack_ensemble", "ensembles"),
                      ("enable_model_explainability", "model explanations"),
                      ("enable_onnx_compatible_models", "ONNX export")):
        if getattr(training, key):
            raise ConfigError(f"training.{key}", f"distributed training does not support {what} (they need the "
                                                 f"whole data in one process); set {key} to False or use "
                                                 "training_mode='non_distributed'")
    if config.n_cross_validations is not None:
        raise ConfigError("n_cross_validations", "distributed training does not cross-validate: it validates on a "
                                                 "holdout (validation_data_size or validation_data); leave "
                                                 "n_cross_validations unset")
    if config.cv_split_column_names is not None:
        raise ConfigError("cv_split_column_names", "distributed training does not use custom splits: it validates "
                                                   "on a holdout; leave cv_split_column_names unset")
    if config.weight_column_name is not None:
        raise ConfigError("weight_column_name", "distributed training does not take sample weights yet; leave "
                                                "weight_column_name unset or train non-distributed")
    allowed = training.allowed_training_algorithms
    others = [a for a in (allowed or ()) if a not in DISTRIBUTED_ALGORITHMS]
    if others:
        raise ConfigError("training.allowed_training_algorithms",
                          f"distributed training uses LightGBM only; {others} cannot be trained on Dask partitions")
    if "LightGBM" in training.blocked_training_algorithms:
        raise ConfigError("training.blocked_training_algorithms", "distributed training uses LightGBM only; "
                                                                  "it cannot be blocked in this mode")
    if config.featurization.transformer_params:
        raise ConfigError("featurization.transformer_params", "distributed training does not take imputer "
                                                              "parameters: numeric columns are mean-imputed over "
                                                              "partitions; remove them")
    if config.featurization.mode == "off":
        raise ConfigError("featurization.mode", "distributed training needs featurization (the partitions are "
                                                "featurized on the workers); use 'auto'")
