"""Number formatting for profiles: six significant digits, thousands separators, no scientific notation."""
from django import template

register = template.Library()


@register.filter
def num(value):
    if value is None or value == "":
        return "—"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return value
    if x != x:
        return "—"
    if abs(x) >= 1e6 or x.is_integer():
        return f"{x:,.0f}"
    return f"{x:,.6g}" if abs(x) >= 1e-4 else f"{x:.3e}"
