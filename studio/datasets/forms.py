"""Forms of the dataset wizard and the schema editor."""
from django import forms

from studio.datasets.models import ColumnType
from studio.datasets.parsing import DELIMITERS, ENCODINGS, QUOTES, ParseSettings
from studio.forms import StyledFormMixin


def parse_tags(text: str) -> dict:
    """'team=risk, quarterly' -> {"team": "risk", "quarterly": ""}."""
    tags = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition("=")
        if not key.strip():
            raise forms.ValidationError(f"The tag {part!r} has no name; write tags as name=value, separated by commas.")
        tags[key.strip()[:100]] = value.strip()[:200]
    return tags


def format_tags(tags: dict) -> str:
    return ", ".join(f"{k}={v}" if v else k for k, v in (tags or {}).items())


class BasicInfoForm(StyledFormMixin, forms.Form):
    name = forms.CharField(max_length=200, help_text="Uploading again under an existing name creates its next version.",
                           error_messages={"required": "Give the dataset a name, for example bank-marketing."})
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    tags = forms.CharField(required=False, help_text="name=value pairs separated by commas, e.g. team=risk, source=crm")

    def clean_tags(self):
        return parse_tags(self.cleaned_data["tags"])


class ParseSettingsForm(StyledFormMixin, forms.Form):
    """How to read a delimited file; the choices start at what was detected."""

    delimiter = forms.ChoiceField(choices=[*DELIMITERS.items(), ("other", "Other…")])
    other_delimiter = forms.CharField(required=False, max_length=1, strip=False, label="Other delimiter")
    encoding = forms.ChoiceField(choices=list(ENCODINGS.items()))
    header = forms.BooleanField(required=False, label="First row is a header", initial=True)
    skip_rows = forms.IntegerField(min_value=0, max_value=1_000_000, initial=0, label="Lines to skip at the top")
    quote_char = forms.ChoiceField(choices=list(QUOTES.items()), required=False, label="Quote character")

    @classmethod
    def initial_from(cls, settings: ParseSettings) -> dict:
        known = settings.delimiter in DELIMITERS
        return {"delimiter": settings.delimiter if known else "other",
                "other_delimiter": "" if known else settings.delimiter, "encoding": settings.encoding,
                "header": settings.header, "skip_rows": settings.skip_rows, "quote_char": settings.quote_char}

    def clean(self):
        data = super().clean()
        if data.get("delimiter") == "other":
            if not data.get("other_delimiter"):
                self.add_error("other_delimiter", "Type the one character that separates the fields.")
            else:
                data["delimiter"] = data["other_delimiter"]
        return data

    def to_settings(self, base: ParseSettings) -> ParseSettings:
        data = self.cleaned_data
        return ParseSettings(file_format=base.file_format, compression=base.compression, delimiter=data["delimiter"],
                             encoding=data["encoding"], header=data["header"], skip_rows=data["skip_rows"] or 0,
                             quote_char=data.get("quote_char") or "")


TYPE_CHOICES = list(ColumnType.choices)


def schema_from_post(post, prefix: str = "col") -> dict:
    """Read the schema table: ``col-N-name``, ``col-N-type``, ``col-N-include`` -> types and exclusions.

    A type equal to ``col-N-detected`` (the guess from the preview rows) is not an override: the whole file
    decides it on creation.
    """
    types, excluded, included = {}, [], []
    valid = set(ColumnType.values)
    index = 0
    while f"{prefix}-{index}-name" in post:
        name = post[f"{prefix}-{index}-name"]
        kind = post.get(f"{prefix}-{index}-type")
        if kind in valid and kind != post.get(f"{prefix}-{index}-detected"):
            types[name] = kind
        (included if post.get(f"{prefix}-{index}-include") else excluded).append(name)
        index += 1
    return {"types": types, "excluded": excluded, "included": included}
