"""``MLClient`` in the shape of the Azure ML SDK v2's, for the studio: ``jobs.create_or_update`` submits a
:class:`~studio_client.dsl.PipelineJob` (its local data uploaded first), ``jobs.stream`` follows it as
``studio job stream`` does, ``jobs.get`` reads it. The connection is ``studio login``'s (or ``url`` and
``token`` given here); Azure's credential and subscription arguments are accepted and unused."""
from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio_client.cli import Api, ClientError, load_config, pipeline_yaml_for_upload, stream_job
from studio_client.dsl import PipelineJob


@dataclass
class Job:
    """A submitted job as the studio answered: ``name`` (``pipeline/ID``), ``status``, ``studio_url``."""

    name: str
    id: int
    status: str
    studio_url: str
    steps: list[dict[str, Any]]
    error: str = ""


class JobOperations:
    """``ml_client.jobs``."""

    def __init__(self, api: Api, out=None):
        self._api, self._out = api, out

    def create_or_update(self, job: PipelineJob, *, experiment_name: str | None = None, inputs: dict | None = None,
                         **_azure_only: Any) -> Job:
        """Submit a pipeline built with ``@pipeline``; local data inputs are uploaded as datasets first."""
        if not isinstance(job, PipelineJob):
            raise ClientError(f"create_or_update takes a pipeline built with @pipeline, got {type(job).__name__}")
        if experiment_name:
            job.experiment_name = experiment_name
        with tempfile.TemporaryDirectory() as tmp:
            # Relative local paths are relative to the working directory, as in the Azure SDK.
            path = Path(tmp) / "pipeline.yml"
            data = job.to_dict()
            for value in (data.get("inputs") or {}).values():
                if isinstance(value, dict) and isinstance(value.get("path"), str) \
                        and not value["path"].startswith("azureml:"):
                    value["path"] = str(Path(value["path"]).resolve())
            import yaml

            path.write_text(yaml.safe_dump(data, sort_keys=False))
            text = pipeline_yaml_for_upload(self._api, path, self._out or sys.stdout)
        created = self._api.request("POST", "/api/v1/pipeline-jobs/", json_body={"yaml": text, "inputs": inputs or {}})
        return self.get(f"pipeline/{created['id']}")

    def get(self, name: str) -> Job:
        """The job ``pipeline/ID`` (or ``ID``) as it is now."""
        number = int(str(name).rpartition("/")[2])
        data = self._api.request("GET", f"/api/v1/pipeline-jobs/{number}/")
        return Job(name=f"pipeline/{number}", id=number, status=data["status"], studio_url=data["url"],
                   steps=data["steps"], error=data.get("error") or "")

    def stream(self, name: str) -> Job:
        """Print each step's progress until the job ends, then return it."""
        stream_job(self._api, str(name) if "/" in str(name) else f"pipeline/{name}", self._out or sys.stdout)
        return self.get(name)


class MLClient:
    """The studio as an Azure ``MLClient``: ``MLClient.from_config(credential)`` uses ``studio login``'s
    connection; ``MLClient(url=..., token=..., workspace=...)`` gives one explicitly."""

    def __init__(self, credential: Any = None, subscription_id: str | None = None,
                 resource_group_name: str | None = None, workspace_name: str | None = None, *,
                 url: str | None = None, token: str | None = None, workspace: Any = None, out=None):
        config = load_config()
        url, token = url or config.get("url"), token or config.get("token")
        if not url or not token:
            raise ClientError("no studio connection: run `studio login --url URL --token TOKEN` or pass url= and "
                              "token=")
        self.jobs = JobOperations(Api(url, token, workspace or config.get("workspace")), out)

    @classmethod
    def from_config(cls, credential: Any = None, path: str | None = None, **kwargs: Any) -> "MLClient":
        return cls(credential, **kwargs)
