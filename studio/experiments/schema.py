"""OpenAPI descriptions of an experiment submission (``POST /api/v1/experiments/``), with the ``forecasting``
block in the SDK v2 names. The services validate the body (``services.validate_submission``); these serializers
only describe it for the schema and the interactive docs."""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

_LAGS = {"oneOf": [{"type": "string", "enum": ["auto"]}, {"type": "integer", "minimum": 1},
                   {"type": "array", "items": {"type": "integer", "minimum": 1}}], "nullable": True}
_AUTO_OR_INT = {"oneOf": [{"type": "string", "enum": ["auto"]}, {"type": "integer", "minimum": 1}]}
_NAMES = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}], "nullable": True}


@extend_schema_field(_LAGS)
class LagsField(serializers.JSONField):
    """null or "auto" (the engine chooses from the seasonality), n (1..n), or a list; [] turns them off."""


@extend_schema_field(_AUTO_OR_INT)
class AutoOrIntField(serializers.JSONField):
    """"auto" or a positive whole number."""


@extend_schema_field(_NAMES)
class ColumnNamesField(serializers.JSONField):
    """One column name or a list of them."""


class ForecastingSettingsSerializer(serializers.Serializer):
    """The ``forecasting`` object: Azure ``set_forecast_settings`` names; leave a setting out for its default."""

    time_column_name = serializers.CharField(help_text="The date/time column holding each row's timestamp.")
    forecast_horizon = serializers.IntegerField(min_value=1, help_text="Periods to forecast after each series' "
                                                                       "last timestamp.")
    time_series_id_column_names = ColumnNamesField(required=False, help_text="Columns naming a series; none: "
                                                                             "the table is one series.")
    frequency = serializers.CharField(required=False, allow_null=True,
                                      help_text="A pandas offset alias (h, D, W-THU, MS); null: inferred.")
    target_lags = LagsField(required=False)
    feature_lags = LagsField(required=False, help_text="null (none), \"auto\" (lag 1 of numeric covariates), "
                                                       "n or a list.")
    target_rolling_window_size = LagsField(required=False)
    seasonality = AutoOrIntField(required=False, help_text="\"auto\" or periods per season.")
    use_stl = serializers.ChoiceField(choices=["season", "season_trend"], required=False, allow_null=True)
    short_series_handling_config = serializers.ChoiceField(choices=["auto", "pad", "drop"], required=False,
                                                           allow_null=True, help_text="null keeps short series.")
    target_aggregate_function = serializers.ChoiceField(choices=["sum", "mean", "min", "max"], required=False,
                                                        allow_null=True)
    country_or_region_for_holidays = serializers.CharField(required=False, allow_null=True,
                                                           help_text="ISO 3166 code such as US, GB or DE.")
    cv_step_size = AutoOrIntField(required=False, help_text="\"auto\" or periods between rolling origins.")
    features_unknown_at_forecast_time = ColumnNamesField(required=False, help_text="Covariates not known in the "
                                                                                   "future; used only as lags.")


class ExperimentSubmissionSerializer(serializers.Serializer):
    """A job to run; every setting but the data, task and target has a default."""

    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.DictField(child=serializers.CharField(), required=False)
    dataset = serializers.IntegerField(help_text="Id of a dataset of the workspace.")
    dataset_version = serializers.IntegerField(required=False, allow_null=True,
                                               help_text="Version number; null: the latest ready version.")
    task = serializers.ChoiceField(choices=["classification", "regression", "forecasting"])
    target_column = serializers.CharField()
    positive_label = serializers.JSONField(required=False, help_text="Binary classification only.")
    primary_metric = serializers.CharField(required=False, allow_null=True)
    validation = serializers.DictField(required=False, help_text="One of n_cross_validations (forecasting: "
                                                                 "rolling origins), validation_data_size, "
                                                                 "validation_data.")
    test = serializers.DictField(required=False, help_text="test_data_size or test_data.")
    featurization = serializers.DictField(required=False)
    training = serializers.DictField(required=False)
    limits = serializers.DictField(required=False)
    forecasting = ForecastingSettingsSerializer(required=False, help_text="Task forecasting only.")
