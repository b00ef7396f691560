"""Where :class:`ForecastEnsemble` lived before the forecasting run became the driver's (one search loop for
every task, and for each partition of many models): models saved then name this module, so it stays as an
alias for unpickling them."""
from .ensemble import ForecastEnsemble, primary_score  # noqa: F401
