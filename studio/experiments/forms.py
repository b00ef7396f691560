"""The experiment creation wizard: one form per step, the job kept in the session in the API's shape.

Every step checks the whole job as known so far with ``services.validate_submission`` (the same checks the
API runs) and shows each problem next to the field of this step that caused it.
"""
from __future__ import annotations

import copy

from django import forms
from django.utils import timezone

from automl_engine.distributed.settings import DISTRIBUTED_OFF

from studio.experiments import services
from studio.experiments.bounds import LIMIT_RANGES, range_text
from studio.forms import StyledFormMixin

STEPS = [("basics", "Basic settings"), ("data", "Data and task"), ("settings", "Task settings"),
         ("forecast", "Forecast settings"), ("limits", "Limits and compute"), ("review", "Review")]
STEP_NAMES = [s for s, _ in STEPS]
# Steps that only some tasks have.
TASK_STEPS = {"forecast": "forecasting"}


def steps_for(spec: dict) -> list[tuple[str, str]]:
    """The wizard's steps for the job's task (the forecast step only for forecasting)."""
    return [(name, title) for name, title in STEPS if TASK_STEPS.get(name, spec.get("task")) == spec.get("task")]


def next_step(step: str, spec: dict) -> str:
    """The step after ``step`` for the job's task."""
    names = [name for name, _ in steps_for(spec)]
    later = [name for name in STEP_NAMES[STEP_NAMES.index(step) + 1:] if name in names]
    return later[0]
SESSION_KEY = "experiment_wizard"

TASK_LABELS = {"classification": "Classification: predict a category (yes/no, one of several labels)",
               "regression": "Regression: predict a number",
               "forecasting": "Time-series forecasting: predict the next values of one or many series"}


def task_choices() -> list[tuple[str, str]]:
    """The engine's tasks; tasks the engine adds later appear here by their name."""
    from automl_engine.config import PROBLEM_TYPES

    return [(t, TASK_LABELS.get(t, t.replace("_", " ").capitalize())) for t in PROBLEM_TYPES]
COLUMN_TYPES = [("", "(detected)"), ("Numeric", "Numeric"), ("Categorical", "Categorical"),
                ("DateTime", "Date/time"), ("Text", "Text")]
IMPUTERS = [("", "(default)"), ("mean", "mean"), ("median", "median"), ("most_frequent", "most frequent"),
            ("constant", "constant")]


def default_spec() -> dict:
    """The job a new wizard starts from: sensible defaults everywhere, the data still to choose."""
    return {
        "name": f"experiment-{timezone.now():%Y%m%d-%H%M}", "description": "", "tags": {},
        "dataset": None, "dataset_version": None, "task": "classification", "target_column": "",
        "positive_label": None, "primary_metric": None, "validation": {}, "test": {},
        "featurization": {"mode": "auto"},
        "training": {"allowed_training_algorithms": None, "blocked_training_algorithms": [],
                     "enable_vote_ensemble": True, "enable_stack_ensemble": True,
                     "enable_model_explainability": True, "enable_onnx_compatible_models": False},
        "limits": {"timeout_minutes": 30, "trial_timeout_minutes": None, "max_trials": 50,
                   "max_concurrent_trials": 1, "enable_early_termination": True, "exit_score": None},
    }


def field_for(api_field: str) -> tuple[str, str]:
    """(step, form field) that shows an error reported for ``api_field`` (a path like ``limits.max_trials``)."""
    head, _, tail = api_field.partition(".")
    if head in ("name", "description", "tags"):
        return "basics", head
    if head in ("dataset", "dataset_version", "task", "target_column", "positive_label"):
        return "data", head if head != "dataset_version" else "dataset"
    if head == "primary_metric":
        return "settings", "primary_metric"
    if head == "validation":
        return "settings", {"n_cross_validations": "n_cross_validations", "validation_data_size": "validation_size",
                            "validation_data": "validation_dataset"}.get(tail, "validation_type")
    if head == "test":
        return "settings", {"test_data_size": "test_size", "test_data": "test_dataset"}.get(tail, "test_type")
    if head == "featurization":
        return "settings", "featurization_mode"
    if head == "training":
        return "settings", {"allowed_training_algorithms": "allowed_algorithms",
                            "blocked_training_algorithms": "blocked_algorithms"}.get(tail, tail or "allowed_algorithms")
    if head == "limits":
        return "limits", tail or "timeout_minutes"
    if head == "forecasting":
        return "forecast", tail or "__all__"
    return "review", "__all__"


class WizardForm(StyledFormMixin, forms.Form):
    """A step: knows the job so far (``spec``) and turns its fields into the job's settings."""

    step = ""

    def __init__(self, *args, spec: dict, workspace, **kwargs):
        self.spec = spec
        self.workspace = workspace
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field.widget, (forms.RadioSelect, forms.CheckboxSelectMultiple)):
                field.widget.attrs["class"] = "form-check-input"

    def apply(self, spec: dict) -> dict:
        """The job with this step's cleaned values written into it."""
        raise NotImplementedError

    def route(self, api_field: str) -> tuple[str, str]:
        """(step, form field) showing an error of ``api_field``; a step may claim fields of another."""
        return field_for(api_field)

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        merged = self.apply(copy.deepcopy(self.spec))
        try:
            services.validate_submission(self.workspace, merged)
        except services.SubmissionError as exc:
            for api_field, message in exc.errors.items():
                step, name = self.route(api_field)
                if step == self.step:
                    self.add_error(name if name in self.fields else None, message)
                elif STEP_NAMES.index(step) < STEP_NAMES.index(self.step):
                    self.add_error(None, f"{dict(STEPS)[step]}: {message}")
        self.merged = merged
        return cleaned


class BasicsForm(WizardForm):
    step = "basics"
    name = forms.CharField(max_length=120, help_text="Runs submitted under the same name are grouped together.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    tags = forms.CharField(required=False, help_text="Comma-separated, optionally key=value: team=risk, baseline")

    @classmethod
    def initial_from(cls, spec):
        tags = ", ".join(f"{k}={v}" if v else k for k, v in (spec.get("tags") or {}).items())
        return {"name": spec.get("name"), "description": spec.get("description"), "tags": tags}

    def apply(self, spec):
        spec.update(name=self.cleaned_data["name"].strip(), description=self.cleaned_data["description"],
                    tags=services._parse_tags(self.cleaned_data["tags"]))
        return spec


def dataset_choices(workspace) -> list[tuple]:
    """Datasets of the workspace with their latest version's size, for the data step."""
    from studio.datasets.models import Dataset

    out = [("", "Choose a dataset…")]
    for dataset in Dataset.objects.filter(workspace=workspace).order_by("name").prefetch_related("versions"):
        versions = sorted(dataset.versions.all(), key=lambda v: -v.version)
        ready = [v for v in versions if v.status == "ready"]
        if ready:
            v = ready[0]
            out.append((str(dataset.pk), f"{dataset.name} (v{v.version}, {v.n_rows:,} rows × {v.n_columns} columns)"))
    return out


def ready_versions(workspace, dataset_id) -> list:
    """Ready versions of one dataset of the workspace, newest first."""
    from studio.datasets.models import DatasetVersion

    if not str(dataset_id or "").isdigit():
        return []
    return list(DatasetVersion.objects.filter(dataset_id=int(dataset_id), dataset__workspace=workspace,
                                              status=DatasetVersion.Status.READY).order_by("-version"))


def version_for_spec(workspace, spec):
    """The dataset version a job refers to, if it is ready (else None)."""
    try:
        return services._ready_version(workspace, spec.get("dataset"), spec.get("dataset_version"), "dataset")
    except services.SubmissionError:
        return None


class DataForm(WizardForm):
    step = "data"
    dataset = forms.ChoiceField(help_text="Upload data on the Datasets page; it appears here once its profile is "
                                          "ready.")
    dataset_version = forms.ChoiceField(required=False, label="Version")
    task = forms.ChoiceField(widget=forms.RadioSelect)
    target_column = forms.ChoiceField(label="Target column", help_text="The column the model learns to predict.")
    positive_label = forms.ChoiceField(required=False, label="Positive class (binary classification)",
                                       help_text="The class curves, lift and the decision threshold are about.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["dataset"].choices = dataset_choices(self.workspace)
        self.fields["task"].choices = task_choices()
        source = self.data if self.is_bound else self.initial
        dataset_id, number = source.get("dataset"), source.get("dataset_version") or None
        self.version = version_for_spec(self.workspace, {"dataset": dataset_id, "dataset_version": number}) \
            if dataset_id else None
        self.fields["dataset_version"].choices = [("", "Latest ready version")] + [
            (str(v.version), f"v{v.version} · {v.n_rows:,} rows · {v.created_at:%Y-%m-%d}")
            for v in ready_versions(self.workspace, dataset_id)]
        columns = self.version.included_columns() if self.version else []
        self.fields["target_column"].choices = [("", "Choose the column to predict…")] + [
            (c["name"], f"{c['name']} ({c['type']}, {c.get('distinct') or 0:,} distinct)") for c in columns]
        target = source.get("target_column")
        labels = services.target_labels(self.version, target) \
            if target and target in {c["name"] for c in columns} else []
        self.fields["positive_label"].choices = [("", "Automatic: the second class in sorted order")] + [
            (str(label), str(label)) for label in labels or []]
        if labels is None:
            self.fields["positive_label"].help_text = (f"{target} has more than 50 values: the positive class only "
                                                       "applies to binary targets.")

    @classmethod
    def initial_from(cls, spec):
        return {"dataset": str(spec["dataset"]) if spec.get("dataset") else "", "task": spec.get("task"),
                "dataset_version": str(spec["dataset_version"]) if spec.get("dataset_version") else "",
                "target_column": spec.get("target_column") or "",
                "positive_label": "" if spec.get("positive_label") is None else str(spec["positive_label"])}

    def apply(self, spec):
        data = self.cleaned_data
        spec.update(dataset=int(data["dataset"]), dataset_version=int(data["dataset_version"])
                    if data.get("dataset_version") else None,
                    task=data["task"], target_column=data["target_column"],
                    positive_label=data["positive_label"] or None)
        if data["task"] != "forecasting":
            spec.pop("forecasting", None)  # forecast settings belong to the forecasting task only
        if spec.get("primary_metric") and not _metric_fits(spec["primary_metric"], data["task"]):
            spec["primary_metric"] = None  # a new task starts from its own default metric
        return spec


def _metric_fits(metric: str, task: str) -> bool:
    from automl_engine.config import PRIMARY_METRICS

    return metric in PRIMARY_METRICS.get(task, {})


def metric_choices(task: str) -> list[tuple[str, str]]:
    """The primary metrics of ``task`` only, each saying which way is better."""
    from automl_engine.config import PRIMARY_METRICS

    return [(m, f"{m} ({'higher' if greater else 'lower'} is better)")
            for m, greater in PRIMARY_METRICS.get(task, {}).items()]


def algorithm_choices(task: str) -> list[tuple[str, str]]:
    from automl_engine.algorithms import algorithm_names

    return [(n, n) for n in algorithm_names(task)]


class SettingsForm(WizardForm):
    step = "settings"
    primary_metric = forms.ChoiceField(help_text="The score trials are ranked by.")
    validation_type = forms.ChoiceField(choices=[
        ("auto", "Auto (10-fold CV under 1,000 rows, 3-fold up to 20,000, else a 10% holdout)"),
        ("kfold", "k-fold cross-validation"), ("holdout", "Holdout: a % of the training data"),
        ("dataset", "A separate validation dataset")], widget=forms.RadioSelect, label="Validation")
    n_cross_validations = forms.IntegerField(required=False, min_value=2, label="Number of folds", initial=5)
    validation_size = forms.FloatField(required=False, min_value=1, max_value=90, label="Validation %", initial=20)
    validation_dataset = forms.ChoiceField(required=False, label="Validation dataset")
    test_type = forms.ChoiceField(choices=[("none", "No test data"), ("split", "Hold out a % of the data"),
                                           ("dataset", "A separate test dataset")], widget=forms.RadioSelect,
                                  label="Test data")
    test_size = forms.FloatField(required=False, min_value=1, max_value=90, label="Test %", initial=10)
    test_dataset = forms.ChoiceField(required=False, label="Test dataset")
    featurization_mode = forms.ChoiceField(choices=[
        ("auto", "Auto: detect types, impute, encode"), ("off", "Off: use the columns as they are"),
        ("custom", "Custom: choose type, imputer and inclusion per column")], widget=forms.RadioSelect,
        label="Featurization")
    allowed_algorithms = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple,
                                                   help_text="None ticked means all.")
    blocked_algorithms = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple)
    enable_vote_ensemble = forms.BooleanField(required=False, label="Voting ensemble of the best trials")
    enable_stack_ensemble = forms.BooleanField(required=False, label="Stack ensemble of the best trials")
    enable_model_explainability = forms.BooleanField(required=False, label="Explain the best model")
    enable_onnx_compatible_models = forms.BooleanField(required=False, label="ONNX-compatible models only")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        task = self.spec.get("task") or "classification"
        self.fields["primary_metric"].choices = metric_choices(task)
        datasets = dataset_choices(self.workspace)
        self.fields["validation_dataset"].choices = datasets
        self.fields["test_dataset"].choices = datasets
        self.fields["allowed_algorithms"].choices = algorithm_choices(task)
        self.fields["blocked_algorithms"].choices = algorithm_choices(task)
        from automl_engine.artifacts import onnx_mode_changes

        self.fields["enable_onnx_compatible_models"].help_text = " ".join(
            ["Single-model trials can then be downloaded as ONNX.", *onnx_mode_changes(task)])
        version = version_for_spec(self.workspace, self.spec)
        target = self.spec.get("target_column")
        self.columns = [c for c in (version.included_columns() if version else []) if c["name"] != target]
        featurization = self.spec.get("featurization") or {}
        types = featurization.get("column_name_and_types") or {}
        imputers = {}
        for entry in (featurization.get("transformer_params") or {}).get("imputer", []):
            for column in entry.get("fields", []):
                imputers[column] = (entry.get("parameters") or {}).get("strategy", "")
        self.column_rows = []
        for i, column in enumerate(self.columns):
            kind = types.get(column["name"], "")
            self.fields[f"col-{i}-type"] = forms.ChoiceField(required=False, choices=COLUMN_TYPES,
                                                             initial="" if kind == "Ignore" else kind)
            self.fields[f"col-{i}-imputer"] = forms.ChoiceField(required=False, choices=IMPUTERS,
                                                                initial=imputers.get(column["name"], ""))
            self.fields[f"col-{i}-include"] = forms.BooleanField(required=False, initial=kind != "Ignore")
            self.column_rows.append({"column": column, "index": i})
        from automl_engine.config import PRIMARY_METRICS

        self.metric_hints = [(task.capitalize(), [(m, services.METRIC_HINTS.get(m, ""))
                                                  for m in PRIMARY_METRICS.get(task, {})])]

    def column_fields(self):
        """Rows of (column, type field, imputer field, include field) for the custom featurization table."""
        for row in self.column_rows:
            i = row["index"]
            yield row["column"], self[f"col-{i}-type"], self[f"col-{i}-imputer"], self[f"col-{i}-include"]

    def main_fields(self):
        return [f for f in self.visible_fields() if not f.name.startswith("col-")]

    @classmethod
    def initial_from(cls, spec):
        from automl_engine.config import DEFAULT_PRIMARY_METRIC

        validation, test = spec.get("validation") or {}, spec.get("test") or {}
        training = spec.get("training") or {}
        if validation.get("n_cross_validations"):
            vtype = "kfold"
        elif validation.get("validation_data_size"):
            vtype = "holdout"
        elif validation.get("validation_data"):
            vtype = "dataset"
        else:
            vtype = "auto"
        ttype = "split" if test.get("test_data_size") else "dataset" if test.get("test_data") else "none"
        return {
            "primary_metric": spec.get("primary_metric") or DEFAULT_PRIMARY_METRIC.get(spec.get("task"), "accuracy"),
            "validation_type": vtype, "n_cross_validations": validation.get("n_cross_validations") or 5,
            "validation_size": round(float(validation.get("validation_data_size") or 0.2) * 100, 2),
            "validation_dataset": str(validation.get("validation_data") or ""),
            "test_type": ttype, "test_size": round(float(test.get("test_data_size") or 0.1) * 100, 2),
            "test_dataset": str(test.get("test_data") or ""),
            "featurization_mode": (spec.get("featurization") or {}).get("mode", "auto"),
            "allowed_algorithms": training.get("allowed_training_algorithms") or [],
            "blocked_algorithms": training.get("blocked_training_algorithms") or [],
            **{k: training.get(k, True) for k in ("enable_vote_ensemble", "enable_stack_ensemble",
                                                   "enable_model_explainability")},
            "enable_onnx_compatible_models": training.get("enable_onnx_compatible_models", False),
        }

    def clean(self):
        data = self.cleaned_data
        if data.get("validation_type") == "kfold" and not data.get("n_cross_validations"):
            self.add_error("n_cross_validations", "Give the number of folds (at least 2), or choose Auto.")
        if data.get("validation_type") == "holdout" and not data.get("validation_size"):
            self.add_error("validation_size", "Give the share of rows to validate on, e.g. 20.")
        if data.get("validation_type") == "dataset" and not data.get("validation_dataset"):
            self.add_error("validation_dataset", "Choose the dataset to validate on.")
        if data.get("test_type") == "split" and not data.get("test_size"):
            self.add_error("test_size", "Give the share of rows to hold out for testing, e.g. 10.")
        if data.get("test_type") == "dataset" and not data.get("test_dataset"):
            self.add_error("test_dataset", "Choose the test dataset.")
        return super().clean()

    def apply(self, spec):
        data = self.cleaned_data
        vtype = data["validation_type"]
        spec["primary_metric"] = data["primary_metric"]
        spec["validation"] = ({"n_cross_validations": data["n_cross_validations"]} if vtype == "kfold" else
                              {"validation_data_size": round(data["validation_size"] / 100, 4)} if vtype == "holdout"
                              else {"validation_data": int(data["validation_dataset"])} if vtype == "dataset" else {})
        ttype = data["test_type"]
        spec["test"] = ({"test_data_size": round(data["test_size"] / 100, 4)} if ttype == "split" else
                        {"test_data": int(data["test_dataset"])} if ttype == "dataset" else {})
        mode = data["featurization_mode"]
        featurization = {"mode": mode}
        if mode == "custom":
            types, imputers = {}, {}
            for row in self.column_rows:
                i, name = row["index"], row["column"]["name"]
                if not data.get(f"col-{i}-include"):
                    types[name] = "Ignore"
                elif data.get(f"col-{i}-type"):
                    types[name] = data[f"col-{i}-type"]
                if data.get(f"col-{i}-imputer") and types.get(name) != "Ignore":
                    imputers.setdefault(data[f"col-{i}-imputer"], []).append(name)
            featurization["column_name_and_types"] = types
            if imputers:
                featurization["transformer_params"] = {"imputer": [
                    {"fields": fields, "parameters": {"strategy": strategy}} for strategy, fields in imputers.items()]}
        spec["featurization"] = featurization
        spec["training"] = {
            "allowed_training_algorithms": data["allowed_algorithms"] or None,
            "blocked_training_algorithms": data["blocked_algorithms"],
            **{k: data[k] for k in ("enable_vote_ensemble", "enable_stack_ensemble", "enable_model_explainability",
                                    "enable_onnx_compatible_models")},
        }
        return spec


TRAINING_MODES = [("non_distributed", "One machine: every algorithm, cross-validation and ensembles"),
                  ("distributed", "Distributed: LightGBM on a Dask cluster, trials one after another")]
# Shown beside the choice: what distributed mode switches off (automl_engine.distributed.settings refuses them).
DISTRIBUTED_SWITCHED_OFF = ["algorithms other than LightGBM", "cross-validation (a holdout validates)",
                            "vote and stack ensembles", "model explanations", "ONNX export and code generation",
                            "forecasting"]


class LimitsForm(WizardForm):
    step = "limits"
    # Ranges come from bounds.LIMIT_RANGES through the API check (WizardForm.clean), which names them.
    timeout_minutes = forms.FloatField(label="Experiment timeout (minutes)",
                                       help_text="The whole run stops after this, keeping finished trials; "
                                                 f"{range_text(*LIMIT_RANGES['timeout_minutes'][:2])}.")
    trial_timeout_minutes = forms.FloatField(required=False, label="Trial timeout (minutes)",
                                             help_text="A trial running longer is killed. Empty: no per-trial limit.")
    max_trials = forms.IntegerField(label="Maximum trials",
                                    help_text=f"{range_text(*LIMIT_RANGES['max_trials'][:2]).capitalize()}.")
    max_concurrent_trials = forms.IntegerField(label="Maximum concurrent trials",
                                               help_text=f"{range_text(*LIMIT_RANGES['max_concurrent_trials'][:2]).capitalize()}"
                                                         "; above 1, trials are spread over every available worker.")
    max_cores_per_trial = forms.IntegerField(
        required=False, label="Cores per trial",
        help_text="Threads each trial's learner uses, "
                  f"{range_text(*LIMIT_RANGES['max_cores_per_trial'][:2])}. Empty: the machine's cores shared among "
                  "the concurrent trials.")
    enable_early_termination = forms.BooleanField(required=False, label="Stop early when the score stops improving")
    exit_score = forms.FloatField(required=False, label="Exit score",
                                  help_text="Stop as soon as a trial reaches this primary-metric score.")
    # Compute
    training_mode = forms.ChoiceField(
        label="Training mode", widget=forms.RadioSelect, choices=TRAINING_MODES, initial="non_distributed",
        required=False,
        help_text="Distributed: LightGBM trained on a Dask cluster over the dataset's partitions, for data "
                  "larger than one worker's memory.")
    max_nodes = forms.IntegerField(label="Maximum nodes", initial=2, required=False,
                                   help_text="Dask workers a distributed run trains on; "
                                             f"{range_text(*LIMIT_RANGES['max_nodes'][:2])}.")
    COMPUTE_FIELDS = ("training_mode", "max_nodes")

    @classmethod
    def initial_from(cls, spec):
        initial = dict(spec.get("limits") or {})
        initial.setdefault("max_nodes", 2)
        initial["training_mode"] = (spec.get("training") or {}).get("training_mode") or "non_distributed"
        return initial

    def limit_fields(self):
        return [self[name] for name in self.fields if name not in self.COMPUTE_FIELDS]

    def compute_fields(self):
        return [self[name] for name in self.COMPUTE_FIELDS]

    def route(self, api_field):
        if api_field == "training.training_mode":
            return "limits", "training_mode"
        return super().route(api_field)

    def apply(self, spec):
        spec["limits"] = {k: self.cleaned_data[k] for k in self.fields if k not in self.COMPUTE_FIELDS}
        if spec["limits"].get("max_cores_per_trial") in (None, -1):  # the default: shared cores
            spec["limits"].pop("max_cores_per_trial")
        training = dict(spec.get("training") or {})
        if self.cleaned_data.get("training_mode") == "distributed":
            spec["limits"]["max_nodes"] = self.cleaned_data.get("max_nodes") or 2
            # what distributed mode cannot do is switched off, as the page says
            training.update({key: False for key in DISTRIBUTED_OFF}, enable_onnx_compatible_models=False,
                            training_mode="distributed")
        else:
            training.pop("training_mode", None)
        spec["training"] = training
        return spec


FORMS = {"basics": BasicsForm, "data": DataForm, "settings": SettingsForm, "limits": LimitsForm}


def _register_forecast_step():
    from studio.experiments.forecast_wizard import ForecastForm

    FORMS["forecast"] = ForecastForm


_register_forecast_step()


class WizardState:
    """The wizard's job in the session, in the API's shape, plus the furthest step reached."""

    def __init__(self, session):
        self.session = session
        state = session.get(SESSION_KEY) or {}
        self.spec = state.get("spec") or default_spec()
        self.reached = state.get("reached", "basics")
        self.source_run = state.get("source_run")

    def save(self):
        self.session[SESSION_KEY] = {"spec": self.spec, "reached": self.reached, "source_run": self.source_run}
        self.session.modified = True

    @classmethod
    def start(cls, session, spec: dict | None = None, source_run: int | None = None) -> "WizardState":
        state = cls(session)
        state.spec = {**default_spec(), **(spec or {})}
        state.reached = "review" if spec else "basics"
        state.source_run = source_run
        state.save()
        return state

    def reach(self, step: str):
        if STEP_NAMES.index(step) > STEP_NAMES.index(self.reached):
            self.reached = step

    def clear(self):
        self.session.pop(SESSION_KEY, None)
