"""Forms of the endpoint pages."""
from django import forms

from studio.forms import StyledFormMixin


class DeployForm(StyledFormMixin, forms.Form):
    """Deploy a version to a new endpoint, or add it as a deployment of an existing one."""

    endpoint = forms.ChoiceField(required=False, label="Endpoint", help_text="A new endpoint, or add this version to an existing one.")
    name = forms.CharField(max_length=32, required=False, label="New endpoint name",
                           help_text="3-32 lowercase letters, digits and hyphens; unique in the studio (it is in the URL).")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    traffic_percent = forms.IntegerField(min_value=0, max_value=100, initial=0, required=False,
                                         label="Traffic for this version (%)",
                                         help_text="The other deployments are scaled down to make room.")

    def __init__(self, *args, endpoints=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["endpoint"].choices = [("", "New endpoint")] + [(str(e.pk), e.name) for e in endpoints]


class BatchForm(StyledFormMixin, forms.Form):
    file = forms.FileField(label="CSV or Parquet file",
                           help_text="CSV with a header row, or Parquet, naming the model's input columns.")
    deployment = forms.ChoiceField(label="Deployment")

    def __init__(self, *args, deployments=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["deployment"].choices = [(d.name, f"{d.name} ({d.model_version})") for d in deployments]
