"""The hot path of scoring, kept free of ORM work: the process-wide model cache, payload validation against a
model's input schema, prediction, traffic routing and the in-process metrics buffer.

Each serving process loads a model version once and keeps it, keyed by ``(version id, sha256)``; the file is
checked against that hash before it is unpickled (``automl_engine.load_model``), so a tampered or truncated
artifact is refused instead of served.
"""
from __future__ import annotations

import functools
import gc
import hashlib
import json
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from operator import itemgetter, or_

import msgspec
import numpy as np
import orjson
import pandas as pd

from automl_engine.predict import Columns

log = logging.getLogger(__name__)

MAX_ERRORS_REPORTED = 100
NUMERIC, CATEGORICAL, DATETIME, TEXT = "Numeric", "Categorical", "DateTime", "Text"
_NUMBER_TYPES = {int, float, type(None)}
_CATEGORY_TYPES = {str, int, float, bool, type(None)}
_TEXT_TYPES = {str, type(None)}
# Per column kind: the Python types of the JSON values it accepts, and how an error message names them.
_ACCEPTED = {NUMERIC: (_NUMBER_TYPES, "a number (or null)"),
             CATEGORICAL: (_CATEGORY_TYPES, "a string, number or boolean (or null)"),
             DATETIME: (_TEXT_TYPES, "a date string such as 2024-05-31 (or null)"),
             TEXT: (_TEXT_TYPES, "a string (or null)")}


class ModelUnavailable(RuntimeError):
    """A model version cannot be served: its artifact is missing or fails its integrity check."""


class MalformedBody(ValueError):
    """A scoring request's body is not JSON at all (answered with 400)."""


class PayloadError(ValueError):
    """A scoring payload does not match the model's input schema; ``errors`` says where, per row and column."""

    def __init__(self, message: str, errors: list[dict] | None = None, total: int | None = None):
        super().__init__(message)
        self.errors = errors or []
        self.total = total if total is not None else len(self.errors)

    def as_dict(self) -> dict:
        body = {"detail": str(self), "errors": self.errors}
        if self.total > len(self.errors):
            body["errors_total"] = self.total
        return body


# --- Model cache ---------------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    """A verified, unpickled pipeline with what scoring needs from its manifest, and the thread budget of
    its predictions (``thread_pools``: a ``threadpoolctl.ThreadpoolController``)."""

    version_id: int
    sha256: str
    pipeline: object
    schema: list[dict]
    class_labels: list | None
    predict_threads: int = 1
    thread_pools: object = None
    loaded_at: float = field(default_factory=time.time)
    decoder: RecordsDecoder = field(init=False, repr=False)

    def __post_init__(self):
        self.decoder = RecordsDecoder(self.schema)

    @property
    def is_forecaster(self) -> bool:
        from studio.serving.forecasting import is_forecaster

        return is_forecaster(self.pipeline)

    @property
    def is_classifier(self) -> bool:
        return self.class_labels is not None and hasattr(self.pipeline, "predict_proba")


class ModelCache:
    """Loaded models of this process, least recently used evicted beyond ``capacity``.

    Concurrent first requests for one version wait for a single load instead of each unpickling it.
    """

    def __init__(self, capacity: int = 8, predict_threads: int = 1):
        self.capacity = capacity
        self.predict_threads = predict_threads
        self._models: OrderedDict[tuple[int, str], LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[int, str], threading.Lock] = {}
        self.loads = 0

    def get(self, version_id: int, sha256: str, describe) -> LoadedModel:
        """The loaded model for ``(version_id, sha256)``; on a miss ``describe()`` gives ``(path, schema,
        class_labels)`` and the file is verified and unpickled."""
        key = (version_id, sha256)
        with self._lock:
            model = self._models.get(key)
            if model is not None:
                self._models.move_to_end(key)
                return model
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                model = self._models.get(key)
            if model is None:
                path, schema, class_labels = describe()
                model = self._load(version_id, sha256, path, schema, class_labels)
                with self._lock:
                    self._models[key] = model
                    while len(self._models) > self.capacity:
                        self._models.popitem(last=False)
                    self._loading.pop(key, None)
            return model

    def _load(self, version_id, sha256, path, schema, class_labels) -> LoadedModel:
        from automl_engine import ModelIntegrityError, load_model
        from automl_engine.predict import limit_threads
        from threadpoolctl import ThreadpoolController

        if not os.path.exists(path):
            raise ModelUnavailable("the model file of this version is missing from storage; register the trial "
                                   "again to restore it")
        try:
            pipeline = load_model(path, expected_sha256=sha256)
        except ModelIntegrityError as exc:
            # The engine names the file by its absolute path; people see its name, never the server's folders.
            reason = str(exc).replace(str(path), os.path.basename(str(path)))
            raise ModelUnavailable(f"model file failed its integrity check and was not loaded: {reason}. "
                                   "Register the trial again to get an intact copy.") from None
        limit_threads(pipeline, self.predict_threads)
        self.loads += 1
        # The thread pools (BLAS, OpenMP) of the libraries loaded so far, this model's included: finding them
        # takes milliseconds, so it is done here; limiting them around a prediction takes microseconds.
        return LoadedModel(version_id, sha256, pipeline, schema, class_labels, self.predict_threads,
                           ThreadpoolController())

    def clear(self) -> None:
        with self._lock:
            self._models.clear()

    def __contains__(self, key) -> bool:
        return key in self._models


# Models kept loaded per web process: a handful of endpoints' versions, a few hundred MB at most.
MODEL_CACHE_SIZE = 8
_CACHE: ModelCache | None = None


def model_cache() -> ModelCache:
    """This process's model cache (``MODEL_CACHE_SIZE`` models, each predicting on
    ``STUDIO_SERVING_PREDICT_THREADS`` threads)."""
    global _CACHE
    if _CACHE is None:
        from django.conf import settings

        _CACHE = ModelCache(MODEL_CACHE_SIZE, settings.STUDIO_SERVING_PREDICT_THREADS)
    return _CACHE


# --- Validation -------------------------------------------------------------------------------------------------


def parse_json(body: bytes):
    """The JSON document in ``body``: parsed by orjson, which is several times faster on large requests, and
    by the standard library when orjson refuses it, so that what the API accepted before (NaN and Infinity,
    integers beyond 64 bits, UTF-16 and UTF-32) is still accepted and a malformed body gets its message."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body, parse_int=_bounded_int)
    except RecursionError:
        raise ValueError("it is nested too deeply; rows are objects of plain values") from None


# A row's values are plain numbers: an integer of more digits than a float can hold is a mistake or an attack
# (int() of a few hundred thousand digits takes seconds), and it gets a message, not a 5xx.
MAX_INTEGER_DIGITS = 40


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"a number has {len(text.lstrip('-'))} digits, more than the {MAX_INTEGER_DIGITS} a "
                         "value may have")
    return int(text)


def columns_from_body(body: bytes, model: LoadedModel, max_rows: int) -> Columns:
    """The input columns of a scoring request's body ``{"data": [{column: value}, ...]}`` for ``model``.

    A well-formed body is decoded and type-checked in one pass by the model's :class:`RecordsDecoder`; any
    other is parsed as plain JSON and checked by :func:`columns_from_records`, which reports every problem
    per row and column. Raises :class:`MalformedBody` (not JSON) or :class:`PayloadError`.
    """
    if model.is_forecaster:  # future rows and newer actuals, checked against the series' origins
        from studio.serving.forecasting import parse_body

        return parse_body(body, model.pipeline, max_rows)
    columns = model.decoder.columns(body, max_rows)
    if columns is not None:
        return columns
    try:
        payload = parse_json(body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedBody(f'The body is not valid JSON ({exc}); send {{"data": [{{"column": value}}]}}.') from None
    if not isinstance(payload, dict) or "data" not in payload:
        raise PayloadError('The body must be a JSON object with "data": a list of rows, e.g. {"data": [{"column": value}]}.',
                           [{"row": None, "column": None, "message": 'missing "data"'}])
    return columns_from_records(payload["data"], model.schema, max_rows)


class RecordsDecoder:
    """Decodes ``{"data": [{column: value}, ...]}`` for one input schema straight into typed rows (msgspec
    structs: every column required, no other column allowed, each value of its kind's JSON types) and turns
    them into columns. Twice as quick as parsing the JSON and then checking each row and value, and it
    refuses exactly what :func:`columns_from_records` refuses, by type; a refused body returns ``None`` so
    that the caller can take the slow path, whose errors say which row and column is wrong.
    """

    def __init__(self, schema: list[dict]):
        self.schema = schema
        # Column names need not be identifiers ("emp.var.rate"): fields are c0, c1, ... renamed in JSON.
        # Each value's type is one of those its column kind accepts (_ACCEPTED), as a union msgspec decodes.
        fields = [(f"c{i}", functools.reduce(or_, _ACCEPTED.get(spec.get("type", NUMERIC), _ACCEPTED[TEXT])[0]))
                  for i, spec in enumerate(schema)]
        row = msgspec.defstruct("Row", fields, rename={f"c{i}": spec["name"] for i, spec in enumerate(schema)},
                                forbid_unknown_fields=True, gc=False)
        self._decoder = msgspec.json.Decoder(msgspec.defstruct("Body", [("data", list[row])], gc=False))

    def columns(self, body: bytes, max_rows: int) -> Columns | None:
        try:
            rows = self._decoder.decode(body).data
        except (msgspec.ValidationError, msgspec.DecodeError):
            return None
        if not rows or len(rows) > max_rows:
            return None
        values = zip(*map(msgspec.structs.astuple, rows))
        try:
            return _typed_columns({spec["name"]: column for spec, column in zip(self.schema, values)}, self.schema,
                                  len(rows), types_checked=True)
        except OverflowError:  # an integer too large for a float: the slow path names it
            return None


def _type_name(value) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def records_for(model: LoadedModel, data, max_rows: int, history=None):
    """The input of ``model`` from already parsed rows: columns (:func:`columns_from_records`), or for a
    forecaster the checked future rows and newer actuals (``history``)."""
    if model.is_forecaster:
        from studio.serving.forecasting import parse_payload

        return parse_payload({"data": data, **({"history": history} if history else {})}, model.pipeline, max_rows)
    return columns_from_records(data, model.schema, max_rows)


def columns_from_records(data, schema: list[dict], max_rows: int) -> Columns:
    """Check ``data`` (a list of ``{column: value}`` objects) against ``schema`` and build the input columns
    (float64 arrays for Numeric, object arrays of the values sent otherwise), without a DataFrame: engine
    pipelines check and featurize the arrays directly.

    Every problem is reported with its row (0-based) and column: missing and unknown columns, values of the
    wrong JSON type for the column's kind (numbers for Numeric; strings, numbers or booleans for Categorical;
    strings for DateTime and Text), unparseable dates and infinite numbers. ``null`` means a missing value,
    which the model imputes. Raises :class:`PayloadError`.
    """
    if not isinstance(data, list):
        raise PayloadError(f'"data" must be a list of row objects such as [{{"column": value}}], '
                           f"not {_type_name(data)}")
    if not data:
        raise PayloadError('"data" is empty: send at least one row, e.g. {"data": [{"column": value, ...}]}')
    if len(data) > max_rows:
        raise PayloadError(f"{len(data):,} rows is more than the {max_rows:,} allowed in one request; "
                           "split the rows into several requests or use batch scoring")
    names = [c["name"] for c in schema]
    expected = set(names)
    errors: list[dict] = []
    total = 0
    by_name = _columns_of_exact_rows(data, names)
    for i, row in enumerate(data if by_name is None else ()):
        if type(row) is not dict:
            total += 1
            if len(errors) < MAX_ERRORS_REPORTED:
                errors.append({"row": i, "column": None,
                               "message": f"each row must be an object of column: value, not {_type_name(row)}"})
            continue
        if row.keys() != expected:
            for name in names:
                if name not in row:
                    total += 1
                    if len(errors) < MAX_ERRORS_REPORTED:
                        errors.append({"row": i, "column": name,
                                       "message": "missing column; send null if the value is unknown"})
            for name in row.keys() - expected:
                total += 1
                if len(errors) < MAX_ERRORS_REPORTED:
                    errors.append({"row": i, "column": name,
                                   "message": "unknown column; the model's input columns are listed in its schema"})
    if errors:
        # The values that were sent are checked too, so one answer lists every problem of the request.
        what = "column"
        present = {name: [row.get(name) if type(row) is dict else None for row in data] for name in names}
        try:
            _typed_columns(present, schema, len(data))
        except PayloadError as wrong_values:
            errors += wrong_values.errors
            total += wrong_values.total
            what = "column or value"
        position = {name: j for j, name in enumerate(names)}
        errors.sort(key=lambda e: (e["row"], position.get(e["column"], len(names))))
        raise PayloadError(_summary(total, what), errors[:MAX_ERRORS_REPORTED], total)
    if by_name is None:
        by_name = {name: [row[name] for row in data] for name in names}
    return _typed_columns(by_name, schema, len(data))


def _typed_columns(by_name: dict[str, list], schema: list[dict], n_rows: int, types_checked: bool = False) -> Columns:
    """Columns of the values of each schema column (``by_name``): float64 arrays for Numeric, object arrays
    otherwise. Values of the wrong JSON type, infinite numbers and unparseable dates raise a
    :class:`PayloadError` listing each of them; ``types_checked`` says the types are known to be right."""
    names = [c["name"] for c in schema]
    expected = set(names)
    errors: list[dict] = []
    total = 0
    columns = {}
    for spec in schema:
        name, kind = spec["name"], spec.get("type", NUMERIC)
        values = by_name[name]
        allowed, wanted = _ACCEPTED.get(kind, _ACCEPTED[TEXT])
        types = allowed if types_checked else set(map(type, values))
        if not types <= allowed:
            for i, value in enumerate(values):
                if type(value) not in allowed:
                    total += 1
                    if len(errors) < MAX_ERRORS_REPORTED:
                        errors.append({"row": i, "column": name,
                                       "message": f"expects {wanted}, got {_type_name(value)} {_short(value)}"})
            continue
        if kind == NUMERIC:
            arr = np.array(values, dtype="float64")
            if types & {float} and np.isinf(arr).any():
                for i in np.flatnonzero(np.isinf(arr)):
                    total += 1
                    if len(errors) < MAX_ERRORS_REPORTED:
                        errors.append({"row": int(i), "column": name,
                                       "message": "infinite number; send a finite number or null"})
            columns[name] = arr
            continue
        if kind == DATETIME and types & {str}:
            parsed = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="mixed")
            bad = np.flatnonzero(parsed.isna().to_numpy() & np.array([v is not None for v in values]))
            for i in bad:
                total += 1
                if len(errors) < MAX_ERRORS_REPORTED:
                    errors.append({"row": int(i), "column": name,
                                   "message": f"expects a date such as 2024-05-31, got {_short(values[i])}"})
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        columns[name] = arr
    if errors:
        raise PayloadError(_summary(total, "value"), sorted(errors, key=lambda e: (e["row"], names.index(e["column"])
                                                                                 if e["column"] in expected else -1)),
                           total)
    return Columns({name: columns[name] for name in names}, n_rows)


def _columns_of_exact_rows(data: list, names: list[str]) -> dict[str, list] | None:
    """``{column: values}`` when every row is an object with exactly the columns ``names`` (in any order);
    ``None`` otherwise, and the rows are then checked one by one to say what is wrong. One C-level pass per
    column (``map(itemgetter)``) is four times quicker than transposing the rows."""
    if set(map(type, data)) != {dict} or set(map(len, data)) != {len(names)}:
        return None
    try:  # n keys per row and each of the n names found: the keys are exactly the names
        return {name: list(map(itemgetter(name), data)) for name in names}
    except KeyError:
        return None


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _summary(total: int, what: str) -> str:
    noun = "problem" if total == 1 else "problems"
    return (f"The input does not match the model's schema: {total:,} {noun} with a {what}. "
            "Fix the rows listed in errors and send them again.")


# --- Prediction -------------------------------------------------------------------------------------------------


@contextmanager
def collector_paused():
    """Python's cyclic garbage collector paused for the duration (then resumed, if it was running).

    A 10,000-row request is some 200,000 objects (the parsed JSON, the column lists, the response), which
    live until the response is sent and hold no reference cycles; left running, the collector scans them
    again and again as they are allocated, which cost about a tenth of the request. Memory is unaffected:
    reference counting frees them as before, and any cycle is collected once the collector resumes.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def predict(model: LoadedModel, frame: pd.DataFrame | Columns, threshold: dict | None = None) -> dict:
    """``{"predictions": [...]}`` plus, for classifiers, ``{"probabilities": [{label: p}], "classes": [...]}``.

    A classifier's prediction is the label with the highest probability, as the engine's own ``predict``
    does, so the pipeline runs once per request. Engine pipelines run by ``automl_engine.predict.call``
    (numpy input checks and featurization, no intermediate frames). A binary classifier given a
    ``threshold`` (the registered version's ``{"value", "positive_class"}``) predicts the positive class when
    its probability is at least ``value``, and the answer says so in ``"threshold"``.
    """
    with _thread_budget(model):
        if model.is_forecaster:
            from studio.serving.forecasting import forecast

            return forecast(model.pipeline, frame)
        result = _predict(model, frame)
    if threshold is not None and "classes" in result and len(result["classes"]) == 2 \
            and threshold.get("positive_class") in result["classes"]:
        positive = threshold["positive_class"]
        negative = next(c for c in result["classes"] if c != positive)
        key, value = str(positive), float(threshold["value"])
        result["predictions"] = [positive if p[key] >= value else negative for p in result["probabilities"]]
        result["threshold"] = {"value": value, "positive_class": positive}
    return result


@contextmanager
def _thread_budget(model: LoadedModel):
    """BLAS and OpenMP pools limited to the model's thread budget during a prediction (the estimators' own
    ``n_jobs`` were set at load, see :func:`automl_engine.predict.limit_threads`)."""
    if model.thread_pools is None:
        yield
        return
    with model.thread_pools.limit(limits=model.predict_threads):
        yield


def _predict(model: LoadedModel, frame: pd.DataFrame | Columns) -> dict:
    from automl_engine.predict import call

    if model.is_classifier:
        proba = np.asarray(call(model.pipeline, frame, "predict_proba"), dtype="float64")
        classes = list(getattr(model.pipeline, "classes_", model.class_labels))
        labels = [c.item() if isinstance(c, np.generic) else c for c in classes]
        keys = [str(c) for c in labels]
        best = np.argmax(proba, axis=1).tolist()
        rows = proba.round(6).tolist()
        if len(keys) == 2:  # the common case; a dict display is three times quicker than dict(zip(...))
            first, second = keys
            probabilities = [{first: p, second: q} for p, q in rows]
        else:
            probabilities = [dict(zip(keys, row)) for row in rows]
        return {"predictions": [labels[j] for j in best], "probabilities": probabilities, "classes": labels}
    values = np.asarray(call(model.pipeline, frame, "predict"))
    if values.dtype.kind in "fiu":
        return {"predictions": [None if math.isnan(v) else v for v in values.astype("float64").tolist()]}
    return {"predictions": [v.item() if isinstance(v, np.generic) else v for v in values.tolist()]}


# --- Routing ----------------------------------------------------------------------------------------------------


def traffic_bucket(request_key: str) -> int:
    """0-99, the same for the same request key (so a retried request with the same id goes the same way)."""
    return int.from_bytes(hashlib.sha256(request_key.encode()).digest()[:8], "big") % 100


def choose_by_traffic(deployments: list, request_key: str):
    """Pick the deployment whose cumulative traffic range holds the request's bucket (deployments are ordered
    by name so that the ranges are stable); ``None`` when no deployment takes traffic."""
    bucket = traffic_bucket(request_key)
    upper = 0
    for deployment in sorted(deployments, key=lambda d: d.name):
        if deployment.traffic_percent <= 0:
            continue
        upper += deployment.traffic_percent
        if bucket < upper:
            return deployment
    return None


# --- Metrics buffer -----------------------------------------------------------------------------------------------


def latency_bucket_index(ms: float) -> int:
    from studio.serving.models import LATENCY_BUCKETS_MS

    for i, edge in enumerate(LATENCY_BUCKETS_MS):
        if ms <= edge:
            return i
    return len(LATENCY_BUCKETS_MS)


class MetricsBuffer:
    """Counts requests per (endpoint, deployment, minute) in memory and writes them to the database in
    batches, so that a scoring request never waits for a metrics write. With ``flush_seconds`` 0 every
    request is written at once (tests); otherwise a daemon thread of this process flushes periodically."""

    def __init__(self, flush_seconds: float):
        self.flush_seconds = flush_seconds
        self._lock = threading.Lock()
        self._counts: dict[tuple[int, str, datetime], dict] = {}
        self._errors: list[dict] = []
        self._thread_pid: int | None = None

    def record(self, endpoint_id: int, deployment_name: str, status: int, latency_ms: float, rows: int,
               error: str | None = None, request_id: str = "") -> None:
        now = datetime.now(timezone.utc)
        minute = now.replace(second=0, microsecond=0)
        from studio.serving.models import LATENCY_BUCKETS_MS

        with self._lock:
            entry = self._counts.get((endpoint_id, deployment_name, minute))
            if entry is None:
                entry = self._counts[(endpoint_id, deployment_name, minute)] = {
                    "requests": 0, "rows": 0, "client_errors": 0, "server_errors": 0, "latency_sum_ms": 0.0,
                    "latency_max_ms": 0.0, "latency_buckets": [0] * (len(LATENCY_BUCKETS_MS) + 1)}
            entry["requests"] += 1
            entry["rows"] += rows if status < 400 else 0
            if 400 <= status < 500:
                entry["client_errors"] += 1
            elif status >= 500:
                entry["server_errors"] += 1
            entry["latency_sum_ms"] += latency_ms
            entry["latency_max_ms"] = max(entry["latency_max_ms"], latency_ms)
            entry["latency_buckets"][latency_bucket_index(latency_ms)] += 1
            if error is not None:
                self._errors.append({"endpoint_id": endpoint_id, "deployment_name": deployment_name,
                                     "status_code": status, "message": error[:2000], "request_id": request_id[:64],
                                     "created_at": now})
        if self.flush_seconds <= 0:
            self.flush()
        elif self._thread_pid != os.getpid():
            self._start_thread()

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread_pid == os.getpid():
                return
            self._thread_pid = os.getpid()  # a forked child starts its own thread
        threading.Thread(target=self._run, name="serving-metrics", daemon=True).start()

    def _run(self) -> None:
        from django.db import close_old_connections

        while True:
            time.sleep(self.flush_seconds)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a failed flush must never kill the flusher; it retries next time
                log.exception("could not write scoring metrics; will retry")
            finally:
                close_old_connections()

    def take(self) -> tuple[dict, list]:
        with self._lock:
            counts, errors = self._counts, self._errors
            self._counts, self._errors = {}, []
        return counts, errors

    def put_back(self, counts: dict, errors: list) -> None:
        with self._lock:
            for key, entry in counts.items():
                mine = self._counts.get(key)
                if mine is None:
                    self._counts[key] = entry
                    continue
                for name in ("requests", "rows", "client_errors", "server_errors", "latency_sum_ms"):
                    mine[name] += entry[name]
                mine["latency_max_ms"] = max(mine["latency_max_ms"], entry["latency_max_ms"])
                mine["latency_buckets"] = [a + b for a, b in zip(mine["latency_buckets"], entry["latency_buckets"])]
            self._errors = errors + self._errors

    def flush(self) -> None:
        counts, errors = self.take()
        if not counts and not errors:
            return
        from studio.serving.services import write_metrics

        try:
            write_metrics(counts, errors)
        except Exception:
            self.put_back(counts, errors)
            raise


_BUFFER: MetricsBuffer | None = None


def metrics_buffer() -> MetricsBuffer:
    """This process's metrics buffer (flushed every ``STUDIO_SERVING_METRICS_FLUSH_SECONDS``)."""
    global _BUFFER
    if _BUFFER is None:
        from django.conf import settings

        _BUFFER = MetricsBuffer(getattr(settings, "STUDIO_SERVING_METRICS_FLUSH_SECONDS", 2.0))
    return _BUFFER
