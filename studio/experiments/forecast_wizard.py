"""The wizard's "Forecast settings" step, shown when the task is forecasting: the Azure studio's settings (time
column, series ids, horizon, frequency; and under "additional settings" lags, rolling window, seasonality,
holidays, short series, aggregation, covariates unknown at forecast time, cross-validation folds and step),
each with a line saying what it, or "auto", does on the chosen dataset.
"""
from __future__ import annotations

from django import forms

from studio.experiments import forecasting
from studio.experiments.forms import WizardForm, version_for_spec

AUTO_HELP = "auto, a number n (1..n), a list such as 1, 2, 24, or none"
LAGS_HELP = "Empty or auto: chosen from the seasonality. n means 1..n; or a list such as 1, 2, 24; none turns them off."


def parse_lags(value: str, *, empty=None, field_name: str):
    """Text of a lag-like field: "" -> ``empty``, "auto", "none" -> [], "24" -> 24, "1, 2, 24" -> [1, 2, 24]."""
    text = (value or "").strip().lower()
    if not text:
        return empty
    if text == "auto":
        return "auto"
    if text in ("none", "off", "0"):
        return []
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        raise forms.ValidationError(f"{value!r} is not understood; write {AUTO_HELP}.") from None
    return numbers[0] if len(numbers) == 1 and "," not in text else numbers


def lags_text(value) -> str:
    """The inverse of :func:`parse_lags` for showing a stored setting."""
    if value is None:
        return ""
    if value == []:
        return "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _auto_int(value: str, name: str):
    text = (value or "").strip().lower()
    if not text or text == "auto":
        return "auto"
    try:
        number = int(text)
    except ValueError:
        raise forms.ValidationError(f"{value!r}: write auto or a whole number of periods.") from None
    return number


class ForecastForm(WizardForm):
    """Forecast settings in the SDK v2 names; ``apply`` writes the job's ``forecasting`` block and its
    rolling-origin fold count (``validation.n_cross_validations``)."""

    step = "forecast"
    time_column_name = forms.ChoiceField(label="Time column", help_text="The column holding each row's timestamp.")
    time_series_id_column_names = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Time series id columns",
        help_text="Columns that together name a series (store and brand, say). None: the table is one series.")
    forecast_horizon = forms.IntegerField(min_value=1, label="Forecast horizon",
                                          help_text="How many periods ahead to forecast.")
    frequency = forms.CharField(required=False, label="Frequency",
                                help_text="Empty: detected from the timestamps. Or a pandas alias: h, D, W-MON, MS.")
    target_lags = forms.CharField(required=False, label="Target lags", help_text=LAGS_HELP)
    target_rolling_window_size = forms.CharField(required=False, label="Target rolling window size",
                                                 help_text=LAGS_HELP)
    feature_lags = forms.CharField(required=False, label="Feature lags",
                                   help_text="Empty: none. auto (lag 1 of each numeric covariate), n or a list.")
    seasonality = forms.CharField(required=False, label="Seasonality", help_text="auto, or periods per season.")
    use_stl = forms.ChoiceField(required=False, label="STL decomposition", choices=[
        ("", "None"), ("season", "Season"), ("season_trend", "Season and trend")])
    country_or_region_for_holidays = forms.ChoiceField(required=False, label="Holidays country or region")
    short_series_handling_config = forms.ChoiceField(label="Short series handling", choices=[
        ("auto", "Auto"), ("pad", "Pad"), ("drop", "Drop"), ("none", "Keep as they are")],
        help_text="Auto drops series too short to validate, or pads them when every series is short.")
    target_aggregate_function = forms.ChoiceField(required=False, label="Target aggregation", choices=[
        ("", "None"), ("sum", "Sum"), ("mean", "Mean"), ("min", "Minimum"),
        ("max", "Maximum")], help_text="Aggregates rows sharing a series and period (also to a coarser frequency); "
                                                       "with none, duplicate timestamps are an error.")
    features_unknown_at_forecast_time = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Features unknown at forecast time",
        help_text="Covariates you will not have for future rows; they are used only as lags.")
    n_cross_validations = forms.CharField(required=False, label="Cross-validation folds",
                                          help_text="auto, or the number of rolling origins.")
    cv_step_size = forms.CharField(required=False, label="Cross-validation step size",
                                   help_text="auto, or periods between origins.")

    ADVANCED = ("target_lags", "target_rolling_window_size", "feature_lags", "seasonality", "use_stl",
                "country_or_region_for_holidays", "short_series_handling_config", "target_aggregate_function",
                "features_unknown_at_forecast_time", "n_cross_validations", "cv_step_size")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import holidays

        from studio.datasets.timeseries import column_roles

        self.version = version_for_spec(self.workspace, self.spec)
        target = self.spec.get("target_column")
        roles = column_roles(self.version) if self.version else {"time": [], "id": []}
        columns = self.version.included_columns() if self.version else []
        self.fields["time_column_name"].choices = [("", "Choose the time column…")] + [(c, c) for c in roles["time"]]
        self.fields["time_series_id_column_names"].choices = [(c, c) for c in roles["id"] if c != target]
        ids = set((self.spec.get("forecasting") or {}).get("time_series_id_column_names") or [])
        self.fields["features_unknown_at_forecast_time"].choices = [
            (c["name"], c["name"]) for c in columns
            if c["name"] != target and c["name"] not in ids and c["type"] != "datetime"]
        self.fields["country_or_region_for_holidays"].choices = [("", "None")] + [
            (code, code) for code in sorted(holidays.list_supported_countries())]
        self.hints: dict[str, str] = {}
        if not self.is_bound and not self.initial.get("time_column_name") and len(roles["time"]) == 1:
            self.initial["time_column_name"] = roles["time"][0]  # the only date column is the time column
        if not self.is_bound:
            self._compute_hints(self.spec.get("forecasting") or {},
                                (self.spec.get("validation") or {}).get("n_cross_validations"))

    def _compute_hints(self, block: dict, n_cross_validations) -> None:
        if not self.version or not block.get("time_column_name") or not block.get("forecast_horizon"):
            return
        columns = {c["name"]: c for c in self.version.included_columns()}
        check = forecasting.check_forecasting(forecasting.normalise_block(block, {}), self.version,
                                              self.spec.get("target_column"), columns, n_cross_validations)
        self.hints = check.hints

    @classmethod
    def initial_from(cls, spec):
        block = spec.get("forecasting") or {}
        n_cv = (spec.get("validation") or {}).get("n_cross_validations")
        initial = {name: block.get(name) for name in ("time_column_name", "forecast_horizon", "frequency",
                                                       "use_stl", "country_or_region_for_holidays",
                                                       "target_aggregate_function")}
        initial.update(
            time_series_id_column_names=list(block.get("time_series_id_column_names") or []),
            features_unknown_at_forecast_time=list(block.get("features_unknown_at_forecast_time") or []),
            target_lags=lags_text(block.get("target_lags")),
            target_rolling_window_size=lags_text(block.get("target_rolling_window_size")),
            feature_lags=lags_text(block.get("feature_lags")),
            seasonality=str(block.get("seasonality") or "auto"),
            short_series_handling_config="none" if "short_series_handling_config" in block
            and block["short_series_handling_config"] is None else block.get("short_series_handling_config") or "auto",
            n_cross_validations=str(n_cv) if n_cv else "auto", cv_step_size=str(block.get("cv_step_size") or "auto"))
        return initial

    def clean_target_lags(self):
        return parse_lags(self.cleaned_data["target_lags"], field_name="target_lags")

    def clean_target_rolling_window_size(self):
        return parse_lags(self.cleaned_data["target_rolling_window_size"], field_name="target_rolling_window_size")

    def clean_feature_lags(self):
        return parse_lags(self.cleaned_data["feature_lags"], field_name="feature_lags")

    def clean_seasonality(self):
        return _auto_int(self.cleaned_data["seasonality"], "seasonality")

    def clean_cv_step_size(self):
        return _auto_int(self.cleaned_data["cv_step_size"], "cv_step_size")

    def clean_n_cross_validations(self):
        value = _auto_int(self.cleaned_data["n_cross_validations"], "n_cross_validations")
        if value != "auto" and value < 1:
            raise forms.ValidationError("Give at least 1 fold, or auto.")
        return value

    def block(self) -> dict:
        """The ``forecasting`` object of the job from the cleaned fields (defaults left out)."""
        data = self.cleaned_data
        block = {"time_column_name": data["time_column_name"], "forecast_horizon": data["forecast_horizon"]}
        optional = {
            "time_series_id_column_names": data["time_series_id_column_names"] or None,
            "frequency": data["frequency"].strip() or None,
            "target_lags": data["target_lags"], "target_rolling_window_size": data["target_rolling_window_size"],
            "feature_lags": data["feature_lags"],
            "seasonality": data["seasonality"] if data["seasonality"] != "auto" else None,
            "use_stl": data["use_stl"] or None,
            "country_or_region_for_holidays": data["country_or_region_for_holidays"] or None,
            "target_aggregate_function": data["target_aggregate_function"] or None,
            "features_unknown_at_forecast_time": data["features_unknown_at_forecast_time"] or None,
            "cv_step_size": data["cv_step_size"] if data["cv_step_size"] != "auto" else None,
        }
        block.update({k: v for k, v in optional.items() if v is not None})
        handling = data["short_series_handling_config"]
        if handling != "auto":
            block["short_series_handling_config"] = None if handling == "none" else handling
        return block

    def apply(self, spec):
        spec["forecasting"] = self.block()
        folds = self.cleaned_data["n_cross_validations"]
        spec["validation"] = {"n_cross_validations": folds} if folds != "auto" else {}
        return spec

    def route(self, api_field: str) -> tuple[str, str]:
        # Forecasting validates on rolling origins set in this step, not on the settings step's folds.
        if api_field == "validation.n_cross_validations":
            return self.step, "n_cross_validations"
        return super().route(api_field)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            self._compute_hints(self.merged.get("forecasting") or {},
                                (self.merged.get("validation") or {}).get("n_cross_validations"))
        return cleaned

    def main_fields(self):
        """(field, what it does on this data) for the main settings."""
        return [(self[name], self.hints.get(name, "")) for name in forecasting.MAIN_SETTINGS]

    def advanced_fields(self):
        """(field, what it does on this data) for the additional settings."""
        return [(self[name], self.hints.get(name, "")) for name in self.ADVANCED]

    def advanced_has_errors(self) -> bool:
        return any(self[name].errors for name in self.ADVANCED)

