"""Formatting for dataset pages: numbers (six significant digits, thousands separators, no scientific notation)
and the schema's column notes in words."""
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


# Why a column got its type, as the schema shows it (parsing.semantic_type writes the codes).
FLAG_WORDS = {
    "all_missing": "every value is missing",
    "single_value": "a single value in every row",
    "unique": "a different value in every row",
    "near_unique": "almost every row differs",
    "few_integer_values": "few distinct whole numbers, read as categories",
}


@register.filter
def flag_words(flag):
    """A schema note in words (unknown codes with their underscores as spaces)."""
    return FLAG_WORDS.get(flag, str(flag).replace("_", " "))
