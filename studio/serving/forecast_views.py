"""The endpoint page of a forecasting model: the Test tab picks a series and a number of periods, takes
the known covariates, and draws the forecast with its interval after the series' recent history."""
import json

import numpy as np
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.http import require_POST

from studio.serving import runtime, services
from studio.serving.access import endpoint_for

HISTORY_HORIZONS = 3  # the chart shows this many horizons of history before the forecast


def forecast_test_context(main_deployment) -> dict:
    """For the Test tab of an endpoint whose main deployment forecasts: its series, horizon and known
    covariates (with the last known values as defaults); empty for other models."""
    if main_deployment is None:
        return {}
    version = main_deployment.model_version
    forecast = (version.manifest or {}).get("forecasting")
    if not forecast:
        return {}
    sample = version.sample_input or {}
    covariates = [{"name": c["name"], "type": c["type"], "value": sample.get(c["name"])}
                  for c in version.input_schema if c.get("role") == "known_covariate"]
    return {"forecast_test": {"series": [s["series"] for s in forecast.get("series", [])],
                              "horizon": forecast.get("forecast_horizon"), "frequency": forecast.get("frequency"),
                              "covariates": covariates}}


@login_required
@require_POST
def forecast_test(request, pk):
    """JSON ``{"series", "periods", "covariates": {name: value}, "deployment"}`` -> the scoring result of the
    series' next ``periods`` rows, the rows sent, and the series' recent history for the chart."""
    from studio.serving.forecasting import _base, example_rows

    endpoint = endpoint_for(request.user, pk)
    try:
        payload = json.loads(request.body or b"null")
        series, periods = str(payload["series"]), int(payload.get("periods") or 1)
        covariates = dict(payload.get("covariates") or {})
    except (ValueError, KeyError, TypeError) as exc:
        return JsonResponse({"detail": f'Send {{"series": name, "periods": n, "covariates": {{...}}}} ({exc}).'},
                            status=400)
    deployments = list(endpoint.deployments.select_related("model_version"))
    chosen = next((d for d in deployments if d.name == payload.get("deployment")), None) or \
        max(deployments, key=lambda d: (d.traffic_percent, d.name), default=None)
    if chosen is None:
        return JsonResponse({"detail": "This endpoint has no deployment."}, status=503)
    try:
        model = services.load_version(chosen.model_version)
    except runtime.ModelUnavailable as exc:
        return JsonResponse({"detail": f"Deployment {chosen.name} cannot serve: {exc}"}, status=503)
    if not model.is_forecaster:
        return JsonResponse({"detail": f"{chosen.model_version} does not forecast; use the row form."}, status=400)
    horizon = _base(model.pipeline).settings.forecast_horizon
    if not 1 <= periods <= horizon:
        return JsonResponse({"detail": f"Forecast 1 to {horizon} periods (the model's horizon)."}, status=422)
    try:
        rows = example_rows(model.pipeline, periods, series)
    except KeyError:
        return JsonResponse({"detail": f"The model has no series {series!r}."}, status=422)
    for row in rows:
        row.update({k: v for k, v in covariates.items() if k in row and v not in (None, "")})
    outcome = services.score_rows(endpoint, rows, deployment_name=chosen.name)
    history = _base(model.pipeline).history_
    recent = history[history["unique_id"] == series].tail(HISTORY_HORIZONS * horizon)
    return JsonResponse({"result": outcome.body, "status": outcome.status, "rows": rows, "deployment": chosen.name,
                         "history": {"time": [t.isoformat() for t in recent["ds"]],
                                     "value": [None if not np.isfinite(v) else float(v)
                                               for v in recent["y"].to_numpy(dtype=float)]}},
                        status=200 if outcome.status == 200 else outcome.status)
