"""Number formats for people: scores, durations, and the metric value of a row."""
import math

from django import template

register = template.Library()


@register.filter
def score(value, digits: int = 4):
    """A score with four decimals, or a dash when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    try:
        return f"{float(value):.{int(digits)}f}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def duration(seconds):
    """Seconds as "4.2 s", "3 min 05 s" or "1 h 02 min"."""
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


@register.filter
def get(mapping, key):
    """``mapping[key]`` in a template, None when absent."""
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def pretty(value):
    """A hyperparameter or comparison value for display."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "—"
    return value


@register.filter
def words(name):
    """``missing_value_imputation`` -> ``missing value imputation``."""
    return str(name).replace("_", " ")
