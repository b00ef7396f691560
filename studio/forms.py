"""Form helpers shared by every app."""


class StyledFormMixin:
    """Gives each widget its Bootstrap class and marks fields with errors, so templates stay plain."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            widget = field.widget
            kind = getattr(widget, "input_type", None)
            if kind == "checkbox":
                css = "form-check-input"
            elif kind == "select" or widget.__class__.__name__ in ("Select", "SelectMultiple"):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self):
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
