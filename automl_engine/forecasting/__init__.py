"""Time-series forecasting: ``from automl_engine import forecasting``.

``forecasting(...)`` is the SDK v2 factory (a job; see :func:`automl_engine.job.forecasting`), and this
package holds the parts: settings, data preparation, features, models, rolling-origin splitter, metrics,
ensembles and many models (a forecasting run per partition). The package itself is callable so that both
``from automl_engine import forecasting; forecasting(...)`` and ``automl_engine.forecasting.ForecastModel``
work: a plain function of that name would be replaced by the package as soon as any of its modules is
imported (Python sets a parent's attribute to an imported submodule).
"""
from __future__ import annotations

import sys
import types
from typing import Any

from .many import ManyModelsForecaster
from .models import FORECASTING_ALGORITHMS, ForecastModel
from .settings import ForecastSettings, make_forecast_settings


def forecasting(training_data: Any = None, target_column_name: str = "", primary_metric: str | None = None,
                n_cross_validations: Any = "auto", validation_data: Any = None, test_data: Any = None,
                test_data_size: float | None = None, weight_column_name: str | None = None,
                random_state: int = 0):
    """A forecasting job (Azure ``automl.forecasting``); then ``job.set_forecast_settings(...)``."""
    from ..job import forecasting as factory

    return factory(training_data=training_data, target_column_name=target_column_name,
                   primary_metric=primary_metric, n_cross_validations=n_cross_validations,
                   validation_data=validation_data, test_data=test_data, test_data_size=test_data_size,
                   weight_column_name=weight_column_name, random_state=random_state)


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any):
        return forecasting(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["FORECASTING_ALGORITHMS", "ForecastModel", "ForecastSettings", "ManyModelsForecaster", "forecasting",
           "make_forecast_settings"]
