"""Forms of the registry pages."""
from django import forms

from studio.forms import StyledFormMixin


class RegisterForm(StyledFormMixin, forms.Form):
    """Register a trial's model under a new or existing name."""

    trial = forms.TypedChoiceField(coerce=int, label="Trial", help_text="Completed trials of finished runs, best first.")
    name = forms.CharField(max_length=100, label="Model name",
                           help_text="A new name creates version 1; an existing name adds the next version.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), label="Description",
                                  help_text="Markdown: **bold**, lists, links, tables.")
    tags = forms.CharField(required=False, max_length=500, label="Tags", help_text="Comma-separated, e.g. churn, q3")

    def __init__(self, *args, trials=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trial"].choices = [(t.pk, label) for t, label in trials]
        self.fields["name"].widget.attrs["list"] = "model-names"


class ModelEditForm(StyledFormMixin, forms.Form):
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}), help_text="Markdown")
    tags = forms.CharField(required=False, max_length=500, help_text="Comma-separated")


class AliasForm(StyledFormMixin, forms.Form):
    alias = forms.CharField(max_length=40, help_text="e.g. champion or challenger")
    version = forms.TypedChoiceField(coerce=int)

    def __init__(self, *args, versions=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["version"].choices = [(v, f"Version {v}") for v in versions]
