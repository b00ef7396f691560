"""The scoring route in the OpenAPI schema.

``POST /api/v1/endpoints/{name}/score/`` is a plain Django view (it authenticates with the endpoint's own key
and skips DRF's request parsing, which would cost more than the prediction on a large request), so
drf-spectacular does not see it. This postprocessing hook (``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``)
describes it by hand: the request and response bodies, the key, the optional headers and every error status.
"""
from __future__ import annotations

PATH = "/api/v1/endpoints/{name}/score/"

_ERROR = {"type": "object", "required": ["detail"], "properties": {
    "detail": {"type": "string", "description": "What is wrong and how to fix it."},
    "errors": {"type": "array", "description": "One entry per problem (at most 100), by row and column.",
               "items": {"type": "object", "properties": {
                   "row": {"type": "integer", "nullable": True, "description": "0-based row of `data`."},
                   "column": {"type": "string", "nullable": True},
                   "in": {"type": "string", "enum": ["history"],
                          "description": "Forecasting: present when the problem is in `history`, not `data`."},
                   "message": {"type": "string"}}}},
    "errors_total": {"type": "integer", "description": "Number of problems, when more than the errors listed."}}}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoringError"}}}}


def _operation() -> dict:
    row = {"type": "object", "additionalProperties": True,
           "description": "One value per input column of the model (its version page lists them); null for a "
                          "missing value, which the model imputes.",
           "example": {"age": 41, "job": "technician", "duration": 210}}
    return {
        "operationId": "endpoint_score",
        "summary": "Score rows with an endpoint's model",
        "description": "Send rows and get the model's predictions (and, for a classifier, the probability of each "
                       "class). Authenticate with the endpoint's key, not a user token. With a traffic split, the "
                       "request goes to one deployment by its share; the same `X-Request-ID` always goes the same way.",
        "tags": ["endpoints"],
        "security": [{"endpointKey": []}],
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"},
             "description": "The endpoint's name."},
            {"name": "X-Request-ID", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 64},
             "description": "Routes the request deterministically in a traffic split; echoed in the response."},
            {"name": "X-Deployment", "in": "header", "required": False, "schema": {"type": "string"},
             "description": "Score with this deployment of the endpoint, whatever the traffic split."},
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["data"],
            "properties": {"data": {"type": "array", "minItems": 1, "items": row,
                                    "description": "The rows to score. Forecasting: the future rows (time, series "
                                                   "ids and the covariates known at forecast time), each at most "
                                                   "the horizon after its series' last time."},
                           "history": {"type": "array", "items": row,
                                       "description": "Forecasting only: newer actuals (the training data's columns, "
                                                      "target included) that move each series' origin to its "
                                                      "newest time without retraining."}}}}}},
        "responses": {
            "200": {"description": "Predictions, in the order of the rows sent. Headers `X-Deployment` and "
                                   "`X-Model-Version` say which model answered.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoringResult"}}}},
            "400": _error_response("The body is not JSON."),
            "401": _error_response("Missing or invalid endpoint key, or no endpoint of that name (the same answer, so "
                                   "names cannot be found by trying them)."),
            "404": _error_response("No deployment of the name given in `X-Deployment`."),
            "413": _error_response("The body is larger than the scoring limit; split the rows or use batch scoring."),
            "422": _error_response("The rows do not match the model's input schema; `errors` lists each problem."),
            "429": _error_response("Too many requests with a missing or invalid key from your address; see "
                                   "`Retry-After`."),
            "503": _error_response("No deployment takes traffic, or the model file is missing or fails its "
                                   "integrity check."),
        },
    }


def add_scoring_route(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: add the scoring route, its schemas and the endpoint-key scheme."""
    components = result.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ScoringError"] = _ERROR
    schemas["ScoringResult"] = {"type": "object", "required": ["predictions"], "properties": {
        "predictions": {"type": "array", "items": {},
                        "description": "A class label per row (classification) or a number (regression)."},
        "probabilities": {"type": "array", "description": "Classification: per row, the probability of each class.",
                          "items": {"type": "object", "additionalProperties": {"type": "number"}}},
        "classes": {"type": "array", "items": {}, "description": "Classification: the class labels."},
        "quantiles": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "number"}},
                      "description": "Forecasting: per quantile (\"0.1\", \"0.9\"), the bound of the prediction "
                                     "interval for each row."},
        "time": {"type": "array", "items": {"type": "string", "format": "date-time"},
                 "description": "Forecasting: the time of each row."},
        "series": {"type": "array", "items": {"type": "string", "nullable": True},
                   "description": "Forecasting: the series of each row (its id values joined by |; null for a "
                                  "single-series model)."}}}
    components.setdefault("securitySchemes", {})["endpointKey"] = {
        "type": "http", "scheme": "bearer",
        "description": "The endpoint's key, shown once when the endpoint is created or its key rotated."}
    result.setdefault("paths", {})[PATH] = {"post": _operation()}
    return result
