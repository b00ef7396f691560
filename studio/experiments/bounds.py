"""The allowed range of every run limit, and of the exit score for each primary metric.

One table serves the API's check (:func:`limit_errors`, called by ``validate_submission``) and the wizard's
fields, so a number the form accepts is one the API accepts and the message always names the range.
"""
from __future__ import annotations

import math

WEEK_MINUTES = 7 * 24 * 60

# name: (lowest, highest, unit shown in messages)
LIMIT_RANGES: dict[str, tuple[float, float, str]] = {
    "timeout_minutes": (0.1, WEEK_MINUTES, "minutes"),
    # Tests and quick checks stop trials after a fraction of a second; 0.005 minutes is 0.3 s.
    "trial_timeout_minutes": (0.005, WEEK_MINUTES, "minutes"),
    "max_trials": (1, 10_000, "trials"),
    "max_concurrent_trials": (1, 64, "trials"),
    "max_nodes": (1, 64, "nodes"),
    # -1, the SDK's default, shares the machine's cores among the concurrent trials.
    "max_cores_per_trial": (1, 256, "cores"),
}
INTEGER_LIMITS = ("max_trials", "max_concurrent_trials", "max_nodes", "max_cores_per_trial")
SPECIAL_LIMIT_VALUES = {"max_cores_per_trial": (-1, "-1 (the machine's cores shared among the concurrent trials)")}

# The values a primary metric can take: (lowest, highest); None is unbounded on that side.
METRIC_RANGES: dict[str, tuple[float | None, float | None]] = {
    "accuracy": (0, 1), "AUC_weighted": (0, 1), "average_precision_score_weighted": (0, 1),
    "norm_macro_recall": (0, 1), "precision_score_weighted": (0, 1), "log_loss": (0, None),
    "spearman_correlation": (-1, 1), "r2_score": (None, 1), "normalized_root_mean_squared_error": (0, None),
    "normalized_mean_absolute_error": (0, None),
}


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def range_text(lowest: float | None, highest: float | None) -> str:
    """``between 0 and 1``, ``at least 0`` or ``at most 1``."""
    if lowest is not None and highest is not None:
        return f"between {_number(lowest)} and {_number(highest)}"
    return f"at least {_number(lowest)}" if lowest is not None else f"at most {_number(highest)}"


def limit_errors(limits: dict, metric: str | None) -> dict[str, str]:
    """Every limit outside its range (and the exit score outside the metric's), keyed by API field path.

    Values of the wrong type are left to the engine's own check, whose message names the expected type."""
    errors = {}
    for name, (lowest, highest, unit) in LIMIT_RANGES.items():
        value = limits.get(name)
        if value in (None, "") or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        special, special_text = SPECIAL_LIMIT_VALUES.get(name, (None, ""))
        if value == special:
            continue
        either = f"{special_text} or " if special_text else ""
        if name in INTEGER_LIMITS and not float(value).is_integer():
            errors[f"limits.{name}"] = f"Must be {either}a whole number {range_text(lowest, highest)}."
        elif not (math.isfinite(value) and lowest <= value <= highest):
            errors[f"limits.{name}"] = f"Must be {either}{range_text(lowest, highest)} {unit}; {_number(value)} is not."
    score = limits.get("exit_score")
    if metric in METRIC_RANGES and isinstance(score, (int, float)) and not isinstance(score, bool):
        lowest, highest = METRIC_RANGES[metric]
        if not math.isfinite(score) or (lowest is not None and score < lowest) or \
                (highest is not None and score > highest):
            errors["limits.exit_score"] = (f"{metric} is {range_text(lowest, highest)}, so an exit score of "
                                           f"{_number(score)} can never be reached; use a score in that range.")
    return errors
