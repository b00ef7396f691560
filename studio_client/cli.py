"""``studio``: the AutoML Studio from the command line, over the REST API only (no database, no Django).

    studio login --url http://localhost:8000 --token TOKEN [--workspace ID]
    studio data create --file train.csv|MLTABLE_FOLDER --name bank
    studio job create --file job.yml [--stream] [--set auc_threshold=0.95]
    studio job list | show ID | cancel ID | download ID [--output DIR]
    studio model list | download NAME [--version latest|N|ALIAS] [--format pkl|mlflow] [--output PATH]
    studio endpoint invoke NAME --key KEY (--file rows.json|rows.csv | --json '[{...}]')
    studio schedule create --file schedule.yml | list | show ID | enable ID | disable ID | delete ID
    studio job endpoint-key pipeline/ID STEP      (the key of an endpoint a deploy step created, shown once)

A job file is either a CLI v2 AutoML job (``type: automl``) or a pipeline (``type: pipeline``). Local data
paths in it (a CSV/Parquet file or an MLTable folder, relative to the file) are uploaded as datasets first.
Job ids are ``automl/ID`` or ``pipeline/ID`` (a bare number means an AutoML job).

The login is kept in ``~/.config/automl-studio/config.json`` (or ``$STUDIO_CONFIG``); ``STUDIO_URL``,
``STUDIO_TOKEN`` and ``STUDIO_WORKSPACE`` override it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

FINISHED = ("completed", "failed", "canceled")


class ClientError(Exception):
    """A request the studio refused, or a local problem; the message is shown to the user as is."""


# --------------------------------------------------------------------------------------------------
# Configuration and HTTP


def config_path() -> Path:
    return Path(os.environ.get("STUDIO_CONFIG") or Path.home() / ".config" / "automl-studio" / "config.json")


def load_config() -> dict[str, Any]:
    path = config_path()
    config = json.loads(path.read_text()) if path.exists() else {}
    for key in ("url", "token", "workspace"):
        if os.environ.get(f"STUDIO_{key.upper()}"):
            config[key] = os.environ[f"STUDIO_{key.upper()}"]
    return config


class Api:
    """The studio's REST API with a token."""

    def __init__(self, url: str, token: str, workspace: Any = None, timeout: float = 120):
        self.url, self.token, self.workspace, self.timeout = url.rstrip("/"), token, workspace, timeout

    @classmethod
    def from_config(cls) -> "Api":
        config = load_config()
        if not config.get("url") or not config.get("token"):
            raise ClientError("Not logged in: run `studio login --url URL --token TOKEN` (the token is on your "
                              "profile page in the studio).")
        return cls(config["url"], config["token"], config.get("workspace"))

    def request(self, method: str, path: str, *, json_body: Any = None, fields: dict | None = None,
                files: dict[str, tuple[str, bytes]] | None = None, params: dict | None = None,
                headers: dict | None = None, raw: bool = False):
        params = dict(params or {})
        if self.workspace and path.startswith("/api/v1/") and "/score/" not in path:
            params.setdefault("workspace", self.workspace)
        url = self.url + path + (("?" + urllib.parse.urlencode(params)) if params else "")
        all_headers = {"Accept": "application/json", **(headers or {})}
        if "Authorization" not in all_headers:
            all_headers["Authorization"] = f"Token {self.token}"
        data = None
        if files is not None or fields is not None:
            boundary = uuid.uuid4().hex
            data = _multipart(boundary, fields or {}, files or {})
            all_headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif json_body is not None:
            data = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                body = response.read()
                if raw:
                    return body, dict(response.headers)
                return json.loads(body) if body else None
        except urllib.error.HTTPError as exc:
            raise ClientError(f"{method} {path}: HTTP {exc.code}: {_error_text(exc.read())}") from None
        except urllib.error.URLError as exc:
            raise ClientError(f"cannot reach the studio at {self.url}: {exc.reason}") from None


def _error_text(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body.decode(errors="replace")[:500]
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        return str(data["detail"])
    if isinstance(data, dict):
        return "; ".join(f"{k}: {' '.join(v) if isinstance(v, list) else v}" for k, v in data.items())
    return str(data)


def _multipart(boundary: str, fields: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> bytes:
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (file_name, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{file_name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts)


# --------------------------------------------------------------------------------------------------
# Data


def upload_data(api: Api, path: Path, name: str, out=sys.stdout, wait_seconds: float = 300) -> dict:
    """Upload a CSV/TSV/Parquet file or an MLTable folder (read locally, sent as CSV) as a dataset version and
    wait until it is profiled and ready."""
    from automl_engine.mltable import is_mltable, load_mltable

    if not path.exists():
        raise ClientError(f"{path} does not exist")
    if is_mltable(path):
        try:
            frame = load_mltable(path, "data")
        except ValueError as exc:
            raise ClientError(f"cannot read the MLTable: {exc}") from None
        content, file_name = frame.to_csv(index=False).encode(), f"{name}.csv"
    elif path.is_dir():
        raise ClientError(f"{path} is a folder without an MLTable file; give a file or an MLTable folder")
    else:
        content, file_name = path.read_bytes(), path.name
    created = api.request("POST", "/api/v1/datasets/", fields={"name": name}, files={"file": (file_name, content)})
    deadline = time.monotonic() + wait_seconds
    while created["status"] not in ("ready", "failed"):
        if time.monotonic() > deadline:
            raise ClientError(f"dataset {name} v{created['version']} is still {created['status']}")
        time.sleep(1)
        created = api.request("GET", f"/api/v1/datasets/{created['id']}/", params={"version": created["version"]})
    if created["status"] != "ready":
        raise ClientError(f"dataset {name} v{created['version']} failed: {created.get('error')}")
    print(f"dataset {name} version {created['version']}: {created['n_rows']} rows, {created['n_columns']} columns "
          f"(id {created['id']})", file=out)
    return created


def _dataset_by_ref(api: Api, ref: str) -> tuple[int, int | None]:
    """(dataset id, version or None for the latest) of ``azureml:NAME@latest`` / ``azureml:NAME:N``."""
    text = ref[len("azureml:"):] if ref.startswith("azureml:") else ref
    version = None
    if "@" in text:
        text = text.split("@", 1)[0]
    elif ":" in text:
        text, number = text.rsplit(":", 1)
        version = int(number)
    for dataset in api.request("GET", "/api/v1/datasets/")["results"]:
        if dataset["name"] == text:
            return dataset["id"], version
    raise ClientError(f"no dataset {text!r} in the workspace; upload it with `studio data create`")


def _local_or_ref(api: Api, value: Any, base: Path, default_name: str, out) -> tuple[str, dict | None]:
    """A data value as a studio reference, uploading a local file first."""
    path = value.get("path") if isinstance(value, dict) else value
    if not isinstance(path, str):
        raise ClientError(f"{default_name}: expected a path, got {value!r}")
    if path.startswith("azureml:"):
        return path, None
    local = Path(path) if Path(path).is_absolute() else base / path
    name = (value.get("name") if isinstance(value, dict) else None) or default_name
    created = upload_data(api, local, name, out=out)
    return f"azureml:{created['name']}:{created['version']}", created


# --------------------------------------------------------------------------------------------------
# Jobs


def automl_spec(api: Api, spec: dict, base: Path, out) -> dict:
    """The experiments API body for a CLI v2 AutoML job (local data uploaded first)."""
    ignored = {"$schema", "type", "compute", "tags", "display_name", "description", "log_verbosity", "outputs",
               "identity", "resources"}
    known = {"experiment_name", "name", "task", "primary_metric", "target_column_name", "training_data",
             "validation_data", "test_data", "n_cross_validations", "validation_data_size", "test_data_size",
             "positive_label", "limits", "training", "featurization"}
    unknown = sorted(set(spec) - ignored - known)
    if unknown:
        raise ClientError(f"{unknown[0]}: not an AutoML job setting; known: {sorted(known)}")
    body: dict[str, Any] = {"name": spec.get("experiment_name") or spec.get("name") or "cli-job",
                            "task": spec.get("task"), "target_column": spec.get("target_column_name"),
                            "primary_metric": spec.get("primary_metric"), "validation": {}, "test": {}}
    ids = {}
    for key in ("training_data", "validation_data", "test_data"):
        if spec.get(key) is None:
            continue
        ref, _ = _local_or_ref(api, spec[key], base, f"{body['name']}-{key.split('_')[0]}", out)
        ids[key] = _dataset_by_ref(api, ref)
    if "training_data" not in ids:
        raise ClientError("training_data: an AutoML job needs training data")
    body["dataset"], version = ids["training_data"]
    if version is not None:
        body["dataset_version"] = version
    if "validation_data" in ids:
        body["validation"]["validation_data"] = ids["validation_data"][0]
    if "test_data" in ids:
        body["test"]["test_data"] = ids["test_data"][0]
    for key in ("n_cross_validations", "validation_data_size"):
        if spec.get(key) not in (None, "auto"):
            body["validation"][key] = spec[key]
    if spec.get("test_data_size") is not None:
        body["test"]["test_data_size"] = spec["test_data_size"]
    for key in ("limits", "training", "featurization", "positive_label"):
        if spec.get(key) is not None:
            body[key] = spec[key]
    return body


def create_job(api: Api, file: Path, sets: dict[str, Any], out) -> str:
    """Submit a job file; returns its id (``automl/7`` or ``pipeline/3``)."""
    import yaml

    text = file.read_text()
    spec = yaml.safe_load(text) or {}
    base = file.resolve().parent
    kind = spec.get("type", "automl")
    if kind == "pipeline":
        body = {"yaml": pipeline_yaml_for_upload(api, file, out), "inputs": sets}
        created = api.request("POST", "/api/v1/pipeline-jobs/", json_body=body)
        job_id = f"pipeline/{created['id']}"
    elif kind == "automl":
        if sets:
            raise ClientError("--set overrides pipeline inputs; an AutoML job has none")
        created = api.request("POST", "/api/v1/experiments/", json_body=automl_spec(api, spec, base, out))
        job_id = f"automl/{created['id']}"
    else:
        raise ClientError(f"type: {kind!r} is not a job type here; use automl or pipeline")
    print(f"created {job_id}: {created['status']} {created.get('url', '')}".rstrip(), file=out)
    return job_id


def pipeline_yaml_for_upload(api: Api, file: Path, out) -> str:
    """A pipeline YAML file's text with its local data inputs uploaded first (as ``azureml:NAME:VERSION``)."""
    import yaml

    text = file.read_text()
    spec = yaml.safe_load(text) or {}
    if not isinstance(spec, dict) or spec.get("type") != "pipeline":
        raise ClientError(f"{file}: a schedule's create_job must be a pipeline YAML (type: pipeline)")
    changed = False
    for name, value in (spec.get("inputs") or {}).items():
        if isinstance(value, dict) and isinstance(value.get("path"), str) and not value["path"].startswith("azureml:"):
            value["path"], _ = _local_or_ref(api, value, file.resolve().parent, name.replace("_", "-"), out)
            changed = True
    return yaml.safe_dump(spec, sort_keys=False) if changed else text


def create_schedule(api: Api, file: Path, out) -> dict:
    """Create a schedule from an Azure ML schedule YAML (``name``, ``trigger``, ``create_job``); a
    ``create_job`` naming a local pipeline file is read (and its local data uploaded) here."""
    import yaml

    text = file.read_text()
    spec = yaml.safe_load(text) or {}
    if not isinstance(spec, dict):
        raise ClientError(f"{file}: a schedule YAML is a mapping with name, trigger and create_job")
    body: dict[str, Any] = {"schedule_yaml": text}
    job = spec.get("create_job")
    if isinstance(job, str) and not job.strip().startswith("type:"):
        path = Path(job.removeprefix("file:"))
        path = path if path.is_absolute() else file.resolve().parent / path
        if not path.exists():
            raise ClientError(f"create_job: {job!r} is not a file next to {file.name}")
        body["job_yaml"] = pipeline_yaml_for_upload(api, path, out)
    created = api.request("POST", "/api/v1/pipeline-schedules/", json_body=body)
    print(f"schedule {created['id']} {created['name']}: {created['when']}, next run {created['next_run_at']}",
          file=out)
    return created


def _schedule_id(api: Api, text: str) -> int:
    """A schedule's id from its id or its name."""
    if text.isdigit():
        return int(text)
    for schedule in api.request("GET", "/api/v1/pipeline-schedules/")["results"]:
        if schedule["name"] == text:
            return schedule["id"]
    raise ClientError(f"no schedule {text!r} in the workspace; `studio schedule list` shows them")


def parse_id(text: str) -> tuple[str, int]:
    kind, _, number = text.rpartition("/")
    kind = kind or "automl"
    if kind not in ("automl", "pipeline") or not number.isdigit():
        raise ClientError(f"{text!r} is not a job id; use automl/ID or pipeline/ID")
    return kind, int(number)


def _path(kind: str, number: int) -> str:
    return f"/api/v1/{'experiments' if kind == 'automl' else 'pipeline-jobs'}/{number}/"


def stream_job(api: Api, job_id: str, out, interval: float = 2.0) -> str:
    """Print status changes, each finished trial (AutoML) or step (pipeline) until the job ends; returns
    its final status."""
    kind, number = parse_id(job_id)
    seen: set = set()
    last = None
    while True:
        job = api.request("GET", _path(kind, number))
        if job["status"] != last and job["status"] not in FINISHED:
            print(f"{job_id}: {job['status']}", file=out)
            last = job["status"]
        if kind == "automl":
            for trial in api.request("GET", f"/api/v1/experiments/{number}/trials/"):
                if trial["status"] in FINISHED + ("timed_out",) and trial["id"] not in seen:
                    seen.add(trial["id"])
                    score = f"{trial['score']:.5f}" if trial["score"] is not None else "-"
                    print(f"  trial {trial['number']:>3} {trial['pipeline_name']:<40} {job['primary_metric']}="
                          f"{score} {trial['status']}", file=out)
        else:
            for step in job["steps"]:
                key = (step["name"], step["status"])
                if key not in seen and step["status"] != "waiting":
                    seen.add(key)
                    detail = f": {step['error']}" if step["error"] else ""
                    print(f"  step {step['name']} ({step['type']}): {step['status']}{detail}", file=out)
                    if step.get("endpoint_key_waiting"):
                        print(f"  endpoint {step['outputs']['endpoint']['endpoint']} created; show its key once with "
                              f"`studio job endpoint-key {job_id} {step['name']}`", file=out)
        if job["status"] in FINISHED:  # the last line says how it ended
            if job.get("error"):
                print(f"error: {job['error']}", file=out)
            print(f"{job_id}: {job['status']}", file=out)
            return job["status"]
        time.sleep(interval)


def download_job(api: Api, job_id: str, output: Path, out) -> list[Path]:
    """Write the job's JSON, metrics and best model(s) under ``output``."""
    kind, number = parse_id(job_id)
    output.mkdir(parents=True, exist_ok=True)
    job = api.request("GET", _path(kind, number))
    written = [output / "job.json"]
    written[0].write_text(json.dumps(job, indent=2, default=str))
    models: list[tuple[str, int]] = []
    if kind == "automl":
        trials = api.request("GET", f"/api/v1/experiments/{number}/trials/")
        (output / "trials.json").write_text(json.dumps(trials, indent=2, default=str))
        written.append(output / "trials.json")
        if job.get("best_trial"):
            models.append(("", job["best_trial"]["id"]))
            best = next(t for t in trials if t["id"] == job["best_trial"]["id"])
            (output / "metrics.json").write_text(json.dumps(best["metrics"], indent=2))
            written.append(output / "metrics.json")
    else:
        for step in job["steps"]:
            metrics = step["outputs"].get("metrics")
            if metrics:
                path = output / step["name"] / "metrics.json"
                path.parent.mkdir(exist_ok=True)
                path.write_text(json.dumps(metrics, indent=2))
                written.append(path)
            if step["outputs"].get("best_model"):
                models.append((step["name"], step["outputs"]["best_model"]["trial"]))
    for folder, trial in models:
        content, _ = api.request("GET", f"/api/v1/trials/{trial}/model", raw=True)
        path = output / folder / "model.pkl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)
    for path in written:
        print(f"wrote {path}", file=out)
    return written


# --------------------------------------------------------------------------------------------------
# Command line


def _sets(values: list[str]) -> dict[str, Any]:
    import yaml

    out = {}
    for item in values or []:
        if "=" not in item:
            raise ClientError(f"--set {item!r}: use NAME=VALUE")
        key, value = item.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="group", required=True)
    login = sub.add_parser("login", help="store the studio URL and your API token")
    login.add_argument("--url", required=True)
    login.add_argument("--token", required=True)
    login.add_argument("--workspace", help="workspace id (default: your current workspace)")

    data = sub.add_parser("data").add_subparsers(dest="command", required=True)
    create = data.add_parser("create", help="upload a CSV/Parquet file or an MLTable folder as a dataset")
    create.add_argument("--file", required=True, type=Path)
    create.add_argument("--name", required=True)
    data.add_parser("list")

    job = sub.add_parser("job").add_subparsers(dest="command", required=True)
    create = job.add_parser("create", help="submit an AutoML job or a pipeline YAML")
    create.add_argument("--file", required=True, type=Path)
    create.add_argument("--stream", action="store_true", help="follow the job until it ends")
    create.add_argument("--set", action="append", default=[], metavar="INPUT=VALUE", help="override a pipeline input")
    job.add_parser("list")
    for name in ("show", "cancel", "stream"):
        job.add_parser(name).add_argument("id")
    key = job.add_parser("endpoint-key", help="the key of the endpoint a pipeline's deploy step created (once)")
    key.add_argument("id")
    key.add_argument("step")
    download = job.add_parser("download")
    download.add_argument("id")
    download.add_argument("--output", type=Path)

    model = sub.add_parser("model").add_subparsers(dest="command", required=True)
    model.add_parser("list")
    download = model.add_parser("download")
    download.add_argument("name")
    download.add_argument("--version", default="latest", help="a number, an alias such as champion, or latest")
    download.add_argument("--format", choices=("pkl", "mlflow"), default="pkl")
    download.add_argument("--output", type=Path)

    schedule = sub.add_parser("schedule").add_subparsers(dest="command", required=True)
    create = schedule.add_parser("create", help="create a schedule from an Azure ML schedule YAML")
    create.add_argument("--file", required=True, type=Path)
    schedule.add_parser("list")
    for name in ("show", "enable", "disable", "delete"):
        schedule.add_parser(name).add_argument("id", help="the schedule's id or name")

    endpoint = sub.add_parser("endpoint").add_subparsers(dest="command", required=True)
    invoke = endpoint.add_parser("invoke", help="score rows with an endpoint")
    invoke.add_argument("name")
    invoke.add_argument("--key", required=True, help="the endpoint's key")
    source = invoke.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", type=Path, help="rows as a JSON list of objects, or a CSV file")
    source.add_argument("--json", help="rows as a JSON list of objects")
    return parser


def run(args: argparse.Namespace, out=sys.stdout) -> int:
    if args.group == "login":
        api = Api(args.url, args.token, args.workspace)
        me = api.request("GET", "/api/v1/me/")
        path = config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"url": api.url, "token": args.token, "workspace": args.workspace}))
        path.chmod(0o600)  # the token is a password
        print(f"logged in to {api.url} as {me.get('username')}; saved to {path}", file=out)
        return 0
    api = Api.from_config()
    if args.group == "data":
        if args.command == "create":
            upload_data(api, args.file, args.name, out=out)
        else:
            for d in api.request("GET", "/api/v1/datasets/")["results"]:
                print(f"{d['name']:<40} v{d['version']:<4} {d['status']:<10} {d['n_rows']} rows", file=out)
        return 0
    if args.group == "job":
        if args.command == "create":
            job_id = create_job(api, args.file, _sets(args.set), out)
            return 0 if not args.stream else (0 if stream_job(api, job_id, out) == "completed" else 1)
        if args.command == "stream":
            return 0 if stream_job(api, args.id, out) == "completed" else 1
        if args.command == "list":
            for run_ in api.request("GET", "/api/v1/experiments/")["results"]:
                print(f"automl/{run_['id']:<6} {run_['status']:<10} {run_['name']}", file=out)
            for job in api.request("GET", "/api/v1/pipeline-jobs/")["results"]:
                print(f"pipeline/{job['id']:<4} {job['status']:<10} {job['name']}", file=out)
            return 0
        kind, number = parse_id(args.id)
        if args.command == "endpoint-key":
            if kind != "pipeline":
                raise ClientError("endpoint-key takes a pipeline job id: pipeline/ID")
            answer = api.request("POST", f"/api/v1/pipeline-jobs/{number}/steps/{urllib.parse.quote(args.step)}/"
                                         "endpoint-key/")
            print(f"endpoint {answer['endpoint']}: key {answer['key']} (shown once: copy it now)\n"
                  f"scoring URL {answer['scoring_url']}", file=out)
            return 0
        if args.command == "show":
            print(json.dumps(api.request("GET", _path(kind, number)), indent=2, default=str), file=out)
        elif args.command == "cancel":
            job = api.request("POST", _path(kind, number) + "cancel/")
            print(f"{args.id}: {job['status']}", file=out)
        else:
            download_job(api, args.id, args.output or Path(f"{kind}-{number}"), out)
        return 0
    if args.group == "schedule":
        if args.command == "create":
            create_schedule(api, args.file, out)
        elif args.command == "list":
            for item in api.request("GET", "/api/v1/pipeline-schedules/")["results"]:
                state = "enabled" if item["enabled"] else "disabled"
                print(f"{item['id']:<4} {item['name']:<30} {state:<9} {item['when']:<28} last job "
                      f"{item['last_job'] or '-'}", file=out)
        else:
            number = _schedule_id(api, args.id)
            path = f"/api/v1/pipeline-schedules/{number}/"
            if args.command == "show":
                print(json.dumps(api.request("GET", path), indent=2, default=str), file=out)
            elif args.command == "delete":
                api.request("DELETE", path)
                print(f"schedule {number} deleted", file=out)
            else:
                item = api.request("POST", path + f"{args.command}/")
                print(f"schedule {item['id']} {item['name']}: {'enabled' if item['enabled'] else 'disabled'}",
                      file=out)
        return 0
    if args.group == "model":
        if args.command == "list":
            for m in api.request("GET", "/api/v1/models/")["results"]:
                print(f"{m['name']:<40} latest v{m.get('latest_version')}", file=out)
            return 0
        content, headers = api.request("GET", f"/api/v1/models/{urllib.parse.quote(args.name)}/versions/"
                                              f"{urllib.parse.quote(str(args.version))}/download/",
                                       params={"artifact": args.format}, raw=True)
        disposition = headers.get("Content-Disposition", "")
        default = disposition.split("filename=")[-1].strip('"') if "filename=" in disposition else "model.bin"
        target = args.output or Path(default)
        target.write_bytes(content)
        print(f"wrote {target} ({len(content)} bytes)", file=out)
        return 0
    rows = _rows(args)
    key = args.key
    answer = api.request("POST", f"/api/v1/endpoints/{urllib.parse.quote(args.name)}/score/",
                         json_body={"data": rows}, headers={"Authorization": f"Bearer {key}"})
    print(json.dumps(answer, indent=2), file=out)
    return 0


def _rows(args) -> list[dict]:
    if args.json:
        rows = json.loads(args.json)
    elif args.file.suffix.lower() == ".csv":
        import csv

        with open(args.file, newline="") as f:
            rows = [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    else:
        rows = json.loads(args.file.read_text())
    if isinstance(rows, dict):
        rows = rows.get("data", [rows])
    return rows


def _number(value: str):
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            continue
    return value


def main(argv: list[str] | None = None, out=sys.stdout) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args, out)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
