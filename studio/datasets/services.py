"""Workflows over datasets: staging uploads, creating versions, profiling, schema changes, reading data.

Each version lives in its own storage folder ``datasets/<uuid>/`` holding the raw upload and
``data.parquet``. A failed creation removes that folder before the error reaches the user, so bad input
leaves neither a row nor a file behind.
"""
from __future__ import annotations

import csv
import io
import json
import logging
import shutil
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Iterable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.apps import apps
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from studio import storage
from studio.datasets import parsing, profile_partitions, profiling
from studio.datasets.models import (
    ColumnType,
    Dataset,
    DatasetVersion,
    ProfileJob,
    StagedUpload,
    TypeScanJob,
)
from studio.datasets.parsing import DataError, ParseSettings, Preview
from studio.jobs import lifecycle

log = logging.getLogger(__name__)

STAGED_UPLOAD_TTL = timedelta(hours=24)
SAMPLES_DIR = Path(settings.BASE_DIR) / "examples" / "data"
SAMPLES = [
    ("bank-marketing-train", "bank_marketing_train_data.csv",
     "UCI Bank Marketing, training split: will the client subscribe a term deposit (column y)?", {"task": "classification", "target": "y"}),
    ("bank-marketing-validation", "bank_marketing_validation_data.csv",
     "UCI Bank Marketing, validation split.", {"task": "classification", "target": "y"}),
    ("bank-marketing-test", "bank_marketing_test_data.csv",
     "UCI Bank Marketing, test split.", {"task": "classification", "target": "y"}),
    ("hardware-performance", "machine_full_209rows.csv",
     "UCI Computer Hardware: estimated relative CPU performance (column ERP).", {"task": "regression", "target": "ERP"}),
    ("titanic", "titanic.csv", "Titanic passengers: who survived (column Survived)?",
     {"task": "classification", "target": "Survived"}),
    ("nyc-energy-train", "nyc_energy_training_clean.csv",
     "New York hourly electricity demand with precipitation and temperature: forecast demand 48 hours ahead.",
     {"task": "forecasting", "target": "demand", "time_column": "timeStamp"}),
    ("nyc-energy-test", "nyc_energy_test_clean.csv", "New York electricity demand, the 48 hours after the training data.",
     {"task": "forecasting", "target": "demand", "time_column": "timeStamp"}),
    ("oj-sales-train", "dominicks_OJ_2_5_8_train.csv",
     "Dominick's weekly orange-juice sales, 9 series (3 stores x 3 brands): forecast Quantity 20 weeks ahead.",
     {"task": "forecasting", "target": "Quantity", "time_column": "WeekStarting", "series": "Store,Brand"}),
    ("oj-sales-test", "dominicks_OJ_2_5_8_test.csv", "Dominick's orange-juice sales, the weeks after the training data.",
     {"task": "forecasting", "target": "Quantity", "time_column": "WeekStarting", "series": "Store,Brand"}),
]


# --- Storage helpers -------------------------------------------------------------------------------------


def _folder() -> str:
    return f"datasets/{uuid.uuid4().hex}"


def _raw_name(folder: str, file_name: str) -> str:
    lowered = file_name.lower()
    for ext in (".csv.gz", ".tsv.gz", ".txt.gz", ".csv", ".tsv", ".txt", ".parquet", ".gz"):
        if lowered.endswith(ext):
            return f"{folder}/raw{ext}"
    return f"{folder}/raw"


def save_stream(name: str, chunks: Iterable[bytes], limit: int) -> int:
    """Write ``chunks`` to storage under ``name`` without holding them in memory; refuse past ``limit`` bytes."""
    size = 0

    class _Counted(io.RawIOBase):
        def __init__(self):
            self.it, self.buffer = iter(chunks), b""

        def readable(self):
            return True

        def readinto(self, b):
            nonlocal size
            while not self.buffer:
                try:
                    self.buffer = next(self.it)
                except StopIteration:
                    return 0
                size += len(self.buffer)
                if size > limit:
                    raise DataError(too_large_message(size, limit), field="file")
            n = min(len(b), len(self.buffer))
            b[:n], self.buffer = self.buffer[:n], self.buffer[n:]
            return n

    local = storage.local_path(name)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "wb") as out:
            shutil.copyfileobj(io.BufferedReader(_Counted(), 1 << 20), out, 1 << 20)
    else:
        default_storage.save(name, File(io.BufferedReader(_Counted(), 1 << 20)))
    return size


def upload_limits() -> parsing.Limits:
    """The limits an upload is read under, from settings (STUDIO_MAX_DATA_BYTES, _ROWS, _FIELD_BYTES)."""
    # Python's csv module (previews, error locations) has a process-wide cap of its own: keep it in step.
    csv.field_size_limit(settings.STUDIO_MAX_FIELD_BYTES)
    return parsing.Limits(max_data_bytes=settings.STUDIO_MAX_DATA_BYTES, max_rows=settings.STUDIO_MAX_ROWS,
                          max_field_bytes=settings.STUDIO_MAX_FIELD_BYTES)


def too_large_message(size: int, limit: int) -> str:
    return (f"The file is larger than the upload limit of {parsing.human_bytes(limit)} (it has at least "
            f"{parsing.human_bytes(size)}); compress it with gzip, convert it to Parquet, or drop columns or "
            "rows you do not need. An administrator can raise STUDIO_MAX_UPLOAD_BYTES.")


def _write_parquet(name: str, write) -> None:
    local = storage.local_path(name)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "wb") as out:
            write(out)
        return
    tmp = Path(settings.FILE_UPLOAD_TEMP_DIR) / f"{uuid.uuid4().hex}.parquet"
    try:
        with open(tmp, "wb") as out:
            write(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _store_file(name, tmp)


def _store_file(name: str, path: Path) -> None:
    """Move a file written elsewhere (an early conversion's Parquet copy, a type check's) to ``name`` in storage."""
    local = storage.local_path(name)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, local)
        return
    try:
        with open(path, "rb") as f:
            default_storage.save(name, File(f))
    finally:
        Path(path).unlink(missing_ok=True)


# --- Wizard uploads --------------------------------------------------------------------------------------


def purge_stale_uploads() -> int:
    """Delete wizard uploads (rows and files) older than ``STAGED_UPLOAD_TTL``; abandoned wizards leave none."""
    stale = list(StagedUpload.objects.filter(created_at__lt=timezone.now() - STAGED_UPLOAD_TTL))
    for upload in stale:
        discard_upload(upload)
    return len(stale)


def sweep_orphan_files(now=None) -> list[str]:
    """Delete what killed uploads leave behind, once older than ``STUDIO_ORPHAN_AGE_SECONDS``: dataset
    folders no version or wizard upload points to (a raw file stored before its row was committed), and
    temporary uploads and early Parquet copies in ``FILE_UPLOAD_TEMP_DIR``. A folder a row points to is
    never touched, whatever its age. Logs and returns the storage-relative names removed."""
    import time as _time

    purge_stale_uploads()
    cutoff = (now or _time.time()) - settings.STUDIO_ORPHAN_AGE_SECONDS
    removed: list[str] = []
    root = storage.local_path("datasets")
    if root is not None and root.is_dir():
        referenced = {name.rsplit("/", 1)[0] for name in DatasetVersion.objects.values_list("raw_file", flat=True)}
        referenced |= {name.rsplit("/", 1)[0] for name in StagedUpload.objects.values_list("file", flat=True)}
        for folder in root.iterdir():
            name = f"datasets/{folder.name}"
            if name in referenced or not folder.is_dir():
                continue
            newest = max([folder.stat().st_mtime] + [f.stat().st_mtime for f in folder.rglob("*")])
            # Checked again right before deleting: an upload may have committed its row meanwhile.
            if newest < cutoff and not DatasetVersion.objects.filter(raw_file__startswith=name + "/").exists() \
                    and not StagedUpload.objects.filter(file__startswith=name + "/").exists():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(name)
    temp = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if temp.is_dir():
        for path in temp.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed.append(f"tmp/{path.name}")
    if removed:
        log.info("swept %d orphaned upload file(s)/folder(s): %s", len(removed), ", ".join(removed[:20]))
    return removed


def stage_upload(*, workspace, user, file_name: str, chunks: Iterable[bytes]) -> StagedUpload:
    """Stream a wizard upload into its own storage folder and detect how to read it.

    Bad input (a name with folder parts, too large, empty, binary) raises ``DataError`` and leaves nothing.
    """
    purge_stale_uploads()
    parsing.check_file_name(file_name)
    folder = _folder()
    name = _raw_name(folder, file_name)
    try:
        size = save_stream(name, chunks, settings.STUDIO_MAX_UPLOAD_BYTES)
        detected = parsing.inspect_file(lambda: storage.open_file(name), file_name)
        return StagedUpload.objects.create(workspace=workspace, created_by=user, file=name, original_name=file_name,
                                           size=size, file_format=detected.file_format,
                                           detected_settings=detected.to_dict())
    except BaseException:
        storage.remove_folder(folder)
        raise


def discard_upload(upload: StagedUpload) -> None:
    """Remove a wizard upload and its folder (the user cancelled, or it expired)."""
    storage.remove_folder(upload.file.name.rsplit("/", 1)[0])
    upload.delete()


def preview_upload(upload: StagedUpload, parse_settings: ParseSettings) -> Preview:
    """The first rows of a wizard upload read with ``parse_settings``, with types guessed from the first
    ``parsing.TYPE_SAMPLE_ROWS`` rows (a few milliseconds) so that the guess rarely differs from the full
    file's decision on creation; the wizard shows the first ``parsing.PREVIEW_ROWS``."""
    upload_limits()
    preview = parsing.read_preview(lambda: storage.open_file(upload.file.name), parse_settings, settings.STUDIO_MAX_COLUMNS,
                                   rows=parsing.TYPE_SAMPLE_ROWS)
    preview.column_types = parsing.sample_column_types(preview)
    preview.rows = preview.rows[:parsing.PREVIEW_ROWS]
    return preview


def scan_upload(upload: StagedUpload, parse_settings: ParseSettings) -> TypeScanJob:
    """The type check of ``upload`` read with ``parse_settings``: the one already made or under way for these
    settings, else a new one sent to a worker. Checks for other settings are stopped: the user moved on."""
    wanted = parse_settings.to_dict()
    with transaction.atomic():
        StagedUpload.objects.select_for_update().filter(pk=upload.pk).first()
        jobs = list(upload.scans.all())
        job = next((j for j in jobs if j.parse_settings == wanted and j.status != TypeScanJob.Status.CANCELED), None)
        stale = [j.pk for j in jobs if j is not job and not j.is_finished]
        if stale:
            TypeScanJob.objects.filter(pk__in=stale, status__in=(TypeScanJob.Status.QUEUED, TypeScanJob.Status.RUNNING)
                                       ).update(status=TypeScanJob.Status.CANCELED, finished_at=timezone.now(),
                                                error="The parse settings changed; the newer settings are checked.")
        if job is None:
            job = TypeScanJob.objects.create(upload=upload, parse_settings=wanted)
            lifecycle.enqueue(job)
    return job


def _scan_folder(upload: StagedUpload, scan_id: int) -> str:
    """Where a type check writes its Parquet copy and pass statistics: a folder inside the upload's own."""
    return f"{upload.file.name.rsplit('/', 1)[0]}/scan-{scan_id}"


class _CountingReader(io.RawIOBase):
    """A file object that reports how far it has been read: the type check's progress and heartbeat. A read
    after the job was closed from outside (settings changed, upload discarded) raises ``JobFailed``."""

    def __init__(self, raw, size: int, report):
        super().__init__()
        self.raw, self.size, self.report, self.position = raw, max(size, 1), report, 0

    def readable(self):
        return True

    def seekable(self):
        return self.raw.seekable()

    def seek(self, offset, whence=io.SEEK_SET):
        self.position = self.raw.seek(offset, whence)
        return self.position

    def tell(self):
        return self.raw.tell()

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self.position += n
        self.report(min(1.0, self.position / self.size))
        return n

    def close(self):
        self.raw.close()
        super().close()


def run_upload_scan(job_id: int) -> None:
    """Claim a type check and convert the staged file with its settings, as creating the dataset would."""
    import time as _time

    def body(job: TypeScanJob, progress) -> dict:
        upload = job.upload
        parse_settings = ParseSettings.from_dict(job.parse_settings)
        folder = _scan_folder(upload, job.pk)
        last = [0.0]

        def report(fraction: float) -> None:
            if not progress():
                raise lifecycle.JobFailed("The type check was stopped: the parse settings changed or the upload "
                                          "was discarded.")
            if _time.monotonic() - last[0] >= 0.5:
                last[0] = _time.monotonic()
                TypeScanJob.objects.filter(pk=job.pk, status=TypeScanJob.Status.RUNNING).update(fraction=fraction)

        def open_raw():
            return io.BufferedReader(_CountingReader(storage.open_file(upload.file.name), upload.size, report),
                                     buffer_size=1 << 20)

        result: list = []
        try:
            _write_parquet(f"{folder}/data.parquet", lambda out: result.append(parsing.convert_to_parquet(
                open_raw, parse_settings, out, settings.STUDIO_MAX_COLUMNS, limits=upload_limits())))
        except (lifecycle.JobFailed, MemoryError):
            storage.remove_folder(folder)
            raise
        except DataError as exc:  # what creating the dataset would say: the user's to fix in step 3
            storage.remove_folder(folder)
            raise lifecycle.JobFailed(exc.message) from None
        except Exception as exc:  # a hostile file's parser error is a reason for the user, as on creation
            storage.remove_folder(folder)
            log.warning("could not check the types of %s", upload.original_name, exc_info=True)
            raise lifecycle.JobFailed(f"The file cannot be read: {lifecycle.readable_error(exc)}. Check that it is "
                                      "CSV, TSV, gzip-compressed CSV or Parquet and upload it again.") from None
        _save_json(_pass_stats_name(f"{folder}/data.parquet"), profiling.pass_statistics(result[0].summary))
        return {"columns": result[0].columns, "n_rows": result[0].n_rows, "fraction": 1.0}

    lifecycle.run_job(TypeScanJob, job_id, body)


def _finished_scan(upload: StagedUpload, parse_settings: ParseSettings) -> tuple[Path, parsing.IngestResult, Path] | None:
    """A completed type check of ``upload`` with exactly these settings whose files are still there, as
    ``(Parquet path, result, pass statistics path)``; only on local storage, where taking it over is a move."""
    job = upload.scans.filter(status=TypeScanJob.Status.COMPLETED, parse_settings=parse_settings.to_dict()).first()
    if job is None or job.columns is None:
        return None
    folder = _scan_folder(upload, job.pk)
    parquet, stats = storage.local_path(f"{folder}/data.parquet"), storage.local_path(_pass_stats_name(f"{folder}/data.parquet"))
    if parquet is None or stats is None or not parquet.is_file() or not stats.is_file():
        return None
    return parquet, parsing.IngestResult(n_rows=job.n_rows, columns=job.columns), stats


def create_from_upload(upload: StagedUpload, *, name: str, description: str = "", tags: dict | None = None,
                       parse_settings: ParseSettings, schema: dict | None = None, user) -> DatasetVersion:
    """Finish the wizard: convert the staged file and create the dataset (or its next version). A completed
    type check with the same settings already converted it: its Parquet copy is taken over.

    On ``DataError`` the upload stays, so the user can change a setting and try again.
    """
    folder = upload.file.name.rsplit("/", 1)[0]
    scan = _finished_scan(upload, parse_settings)
    if scan is not None:
        log.info("upload %s: the type check's conversion is taken over", upload.original_name)
    version = _create_version(workspace=upload.workspace, user=user, name=name, description=description,
                              tags=tags or {}, raw_name=upload.file.name, original_name=upload.original_name,
                              raw_size=upload.size, parse_settings=parse_settings, schema=schema or {},
                              folder=folder, keep_raw_on_error=True,
                              converted=scan[:2] if scan else None, pass_stats=scan[2] if scan else None)
    scan_folders = [_scan_folder(upload, pk) for pk in upload.scans.values_list("pk", flat=True)]
    StagedUpload.objects.filter(pk=upload.pk).delete()
    for scan_folder in scan_folders:
        storage.remove_folder(scan_folder)
    return version


# --- Creating versions -----------------------------------------------------------------------------------


def create_dataset_version(*, workspace, user, name: str, uploaded, file_name: str, description: str = "",
                           tags: dict | None = None, settings_overrides: dict | None = None,
                           schema: dict | None = None, enqueue: bool = True,
                           early: parsing.EarlyConversion | None = None) -> DatasetVersion:
    """The API's one-shot upload: store the file, detect settings (overridable), convert, create the version.

    ``uploaded`` is a Django ``UploadedFile``; any ``DataError`` leaves no row and no file. ``early`` is a
    conversion that ran while the file arrived: its Parquet copy is used if it read the file with the final
    settings, else the stored file is converted here.
    """
    parsing.check_file_name(file_name)
    if uploaded.size > settings.STUDIO_MAX_UPLOAD_BYTES:
        raise DataError(too_large_message(uploaded.size, settings.STUDIO_MAX_UPLOAD_BYTES), field="file")
    folder = _folder()
    raw_name = _raw_name(folder, file_name)
    try:
        stored = default_storage.save(raw_name, uploaded)
        detected = parsing.inspect_file(lambda: storage.open_file(stored), file_name)
        merged = ParseSettings.from_dict({**detected.to_dict(), **(settings_overrides or {})})
        converted = None
        if early is not None:
            result = early.take(merged)
            converted = (early.out_path, result) if result is not None else None
            log.info("upload %s: %s", file_name, "converted while it arrived" if converted else
                     "converted after it arrived (the early pass did not apply)")
        return _create_version(workspace=workspace, user=user, name=name, description=description, tags=tags or {},
                               raw_name=stored, original_name=file_name, raw_size=uploaded.size,
                               parse_settings=merged, schema=schema or {}, folder=folder, enqueue=enqueue,
                               converted=converted)
    except BaseException:
        storage.remove_folder(folder)
        raise


def validate_dataset_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise DataError("Give the dataset a name, for example bank-marketing.", field="name")
    if len(name) > 200:
        raise DataError("The name is longer than 200 characters; choose a shorter one.", field="name")
    return name


def _create_version(*, workspace, user, name, description, tags, raw_name, original_name, raw_size, parse_settings,
                    schema, folder, keep_raw_on_error=False, enqueue=True, converted=None,
                    pass_stats: Path | None = None) -> DatasetVersion:
    name = validate_dataset_name(name)
    parquet_name = f"{folder}/data.parquet"
    try:
        result: list = []
        if converted is not None:  # (path of a Parquet copy already written, its IngestResult)
            _store_file(parquet_name, converted[0])
            result.append(converted[1])
        else:
            limits = upload_limits()
            try:
                _write_parquet(parquet_name, lambda out: result.append(parsing.convert_to_parquet(
                    lambda: storage.open_file(raw_name), parse_settings, out, settings.STUDIO_MAX_COLUMNS, limits=limits)))
            except (DataError, MemoryError):
                raise
            except Exception as exc:  # whatever else a hostile file makes a parser raise is still a 400
                log.warning("could not convert %s", original_name, exc_info=True)
                raise DataError(f"The file cannot be read: {lifecycle.readable_error(exc)}. Check that it is "
                                "CSV, TSV, gzip-compressed CSV or Parquet and upload it again.", field="file") from None
        n_rows = result[0].n_rows
        columns = apply_schema(result[0].columns, schema)
        if pass_stats is not None:  # written by the type check that converted the file
            _store_file(_pass_stats_name(parquet_name), pass_stats)
        else:
            _save_json(_pass_stats_name(parquet_name), profiling.pass_statistics(result.pop().summary))
        with transaction.atomic():
            dataset, created = Dataset.objects.select_for_update().get_or_create(
                workspace=workspace, name=name,
                defaults={"description": description, "tags": tags, "created_by": user})
            if not created and (description or tags):
                dataset.description = description or dataset.description
                dataset.tags = {**dataset.tags, **tags}
                dataset.save(update_fields=["description", "tags"])
            last = dataset.versions.order_by("-version").values_list("version", flat=True).first() or 0
            version = DatasetVersion.objects.create(
                dataset=dataset, version=last + 1, status=DatasetVersion.Status.PROFILING, raw_file=raw_name,
                parquet_file=parquet_name, original_name=original_name, file_format=parse_settings.file_format,
                raw_size=raw_size, n_rows=n_rows, n_columns=len(columns), columns=columns,
                parse_settings=parse_settings.to_dict(), created_by=user)
            if enqueue:
                enqueue_profile(version)
            else:
                ProfileJob.objects.create(version=version)
        return version
    except IntegrityError:
        _cleanup(folder, raw_name, parquet_name, keep_raw_on_error)
        raise DataError("Another upload created this dataset version at the same moment; upload again to make "
                        "the next version.", field="name")
    except BaseException:
        _cleanup(folder, raw_name, parquet_name, keep_raw_on_error)
        raise


def _pass_stats_name(parquet_name: str) -> str:
    """Where the conversion pass leaves what it already knows for the profile job, next to the Parquet copy."""
    return parquet_name.rsplit("/", 1)[0] + "/profile-pass.json"


def _save_json(name: str, data: dict) -> None:
    local = storage.local_path(name)
    if local is not None:
        local.write_text(json.dumps(data))
    else:
        default_storage.save(name, ContentFile(json.dumps(data).encode()))


def _load_json(name: str) -> dict | None:
    if not default_storage.exists(name):
        return None
    with default_storage.open(name, "rb") as f:
        return json.load(f)


def _cleanup(folder: str, raw_name: str, parquet_name: str, keep_raw: bool) -> None:
    if keep_raw:
        for name in (parquet_name, _pass_stats_name(parquet_name)):
            if default_storage.exists(name):
                default_storage.delete(name)
    else:
        storage.remove_folder(folder)


def apply_schema(columns: list[dict], schema: dict | None) -> list[dict]:
    """Columns with type overrides and exclusions applied: ``{"types": {name: type}, "excluded": [names],
    "included": [names]}``. Unknown column names or types raise ``DataError``."""
    if not schema:
        return columns
    by_name = {c["name"]: c for c in columns}
    valid_types = set(ColumnType.values)
    types = schema.get("types") or {}
    excluded = schema.get("excluded") or []
    included = schema.get("included") or []
    for column in list(types) + list(excluded) + list(included):
        if column not in by_name:
            raise DataError(f"There is no column {column!r} in this dataset; use one of the names listed in its "
                            "schema.", field="schema")
    for column, kind in types.items():
        if kind not in valid_types:
            raise DataError(f"{kind!r} is not a column type; use one of {', '.join(sorted(valid_types))}.",
                            field="schema")
    out = []
    for c in columns:
        c = dict(c)
        if c["name"] in types:
            c["type"] = types[c["name"]]
        if c["name"] in excluded:
            c["excluded"] = True
        if c["name"] in included:
            c["excluded"] = False
        out.append(c)
    if all(c["excluded"] for c in out):
        raise DataError("Every column would be excluded; keep at least one column.", field="schema")
    return out


def runs_using(versions) -> dict[int, list]:
    """Experiment runs per dataset version id, as training, validation or test data (empty until the
    experiments app defines ``Run``). Each run gets ``role`` and ``url`` attributes for the page."""
    from django.db.models import Q
    from django.urls import NoReverseMatch, reverse

    ids = [v.pk for v in versions]
    try:
        Run = apps.get_model("experiments", "Run")
    except LookupError:
        return {}
    roles = {"dataset_version": "training", "validation_version": "validation", "test_version": "test"}
    fields = {f.name for f in Run._meta.get_fields()}
    roles = {field: role for field, role in roles.items() if field in fields}
    query = Q()
    for field in roles:
        query |= Q(**{f"{field}_id__in": ids})
    related = ["experiment"] if "experiment" in fields else []
    out: dict[int, list] = {}
    for run in Run.objects.filter(query).select_related(*related).order_by("-pk"):
        try:
            run.url = reverse("experiments:run", args=[run.pk])
        except NoReverseMatch:
            run.url = ""
        for field, role in roles.items():
            version_id = getattr(run, f"{field}_id")
            if version_id in ids:
                run.role = role
                out.setdefault(version_id, []).append(run)
    return out


@transaction.atomic
def update_schema(version: DatasetVersion, schema: dict) -> DatasetVersion:
    """Change column types or exclusions. A version no experiment has used is edited in place; a used one
    stays as its runs saw it (runs must stay reproducible) and the edit makes the next version of the
    dataset, sharing the stored files and the profile. Returns the version that carries the new schema."""
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().get(pk=version.pk)
        columns = apply_schema(version.columns, schema)
        if not runs_using([version]).get(version.pk):
            version.columns = columns
            version.save(update_fields=["columns"])
            return version
        if version.status != DatasetVersion.Status.READY:
            raise DataError(f"Version {version.version} is {version.status}; edit its schema when it is ready.",
                            field="schema")
        Dataset.objects.select_for_update().filter(pk=version.dataset_id).first()
        number = (version.dataset.versions.aggregate(n=models.Max("version"))["n"] or 0) + 1
        edited = DatasetVersion.objects.create(
            dataset_id=version.dataset_id, version=number, status=DatasetVersion.Status.READY,
            raw_file=version.raw_file.name, parquet_file=version.parquet_file.name,
            original_name=version.original_name, file_format=version.file_format, raw_size=version.raw_size,
            n_rows=version.n_rows, n_columns=version.n_columns, columns=columns,
            parse_settings=version.parse_settings, created_by=version.created_by)
        job = version.profile_jobs.filter(status=ProfileJob.Status.COMPLETED).order_by("-finished_at").first()
        if job is not None:  # the same file has the same profile; profile_of applies the new types
            ProfileJob.objects.create(version=edited, status=ProfileJob.Status.COMPLETED, started_at=job.started_at,
                                      finished_at=job.finished_at, profile=job.profile)
    return edited


# --- Profiling -------------------------------------------------------------------------------------------


def enqueue_profile(version: DatasetVersion) -> ProfileJob:
    """Create the profile job row and send it to a worker once the transaction commits."""
    job = ProfileJob.objects.create(version=version)
    lifecycle.enqueue(job)
    return job


def profile_again(version: DatasetVersion) -> ProfileJob:
    """"Profile again" after a failed profile: the version goes back to profiling with a new job."""
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != DatasetVersion.Status.FAILED:
            raise DataError(f"Version {version.version} is {version.status}; only a failed profile can be run "
                            "again.", field="version")
        DatasetVersion.objects.filter(pk=version.pk).update(status=DatasetVersion.Status.PROFILING, error="")
        return enqueue_profile(version)


def run_profile(job_id: int) -> None:
    """Claim a profile job, compute the profile and mark the version ready (or failed, with the reason)."""
    def body(job: ProfileJob, progress) -> dict:
        version = job.version
        name = version.parquet_file.name
        opener, pass_stats = (lambda: storage.open_file(name)), _load_json(_pass_stats_name(name))
        if default_storage.size(name) > settings.STUDIO_PROFILE_PARTITION_BYTES:
            # Too large to read a whole column into one process: batch by batch, in bounded memory.
            profile = profile_partitions.profile_parquet_partitioned(opener, version.columns, pass_stats=pass_stats,
                                                                     progress=progress)
        else:
            profile = profiling.profile_parquet(opener, version.columns, pass_stats=pass_stats, progress=progress)
        DatasetVersion.objects.filter(pk=version.pk).update(status=DatasetVersion.Status.READY, error="")
        return {"profile": profile}

    lifecycle.run_job(ProfileJob, job_id, body)


def profile_of(version: DatasetVersion) -> dict | None:
    """The latest completed profile, with column types as the schema says now."""
    job = version.profile_jobs.filter(status=ProfileJob.Status.COMPLETED).order_by("-finished_at").first()
    if job is None:
        return None
    profile = dict(job.profile)
    schema = {c["name"]: c for c in version.columns}
    profile["columns"] = [{**c, "type": schema.get(c["name"], c).get("type", c["type"]),
                           "excluded": schema.get(c["name"], c).get("excluded", False)} for c in profile["columns"]]
    return profile


# --- Reading data ----------------------------------------------------------------------------------------


def _as_type(series: pd.Series, kind: str) -> pd.Series:
    if kind == ColumnType.NUMERIC:
        return series if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series) \
            else pd.to_numeric(series, errors="coerce")
    if kind == ColumnType.DATETIME:
        return series if pd.api.types.is_datetime64_any_dtype(series) else pd.to_datetime(series, errors="coerce",
                                                                                           format="mixed")
    if kind == ColumnType.BOOLEAN:
        words = {w: True for w in parsing.TRUE_WORDS | {"1", "1.0"}} | {w: False for w in parsing.FALSE_WORDS | {"0", "0.0"}}
        mapped = series.map(lambda v: v if v is None or isinstance(v, bool) or (isinstance(v, float) and v != v)
                            else words.get(str(v).strip().lower()))
        return mapped.astype(object).where(mapped.notna(), None)
    if kind in (ColumnType.CATEGORICAL, ColumnType.TEXT, ColumnType.ID):
        if pd.api.types.is_object_dtype(series):
            return series
        as_text = series.astype(object).map(lambda v: None if v is None or (isinstance(v, float) and v != v)
                                            else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)))
        return as_text
    return series


def load_frame(version: DatasetVersion, columns: Iterable[str] | None = None, limit: int | None = None,
               labels: str | None = None) -> pd.DataFrame:
    """The canonical Parquet copy as a DataFrame with type overrides applied and excluded columns dropped.

    Numeric columns are numbers, datetimes ``datetime64``, booleans ``True``/``False``/``None``, and
    categorical, text and id-like columns Python strings (object dtype), so the engine sees what the user chose.

    ``columns`` reads only those (included) columns and ``limit`` only the first rows, so that a web request
    that needs a few rows or one column never reads the whole file. ``labels`` names a column read as class
    labels: its values exactly as the data has them (``yes``/``no`` stay strings, 0/1 stay integers), whatever
    type the schema gives the column as a feature.
    """
    keep = [c for c in version.columns if not c.get("excluded")]
    if columns is not None:
        wanted = set(columns)
        keep = [c for c in keep if c["name"] in wanted]
    names = [c["name"] for c in keep]
    with storage.open_file(version.parquet_file.name) as f:
        if limit is None:
            table = pq.read_table(f, columns=names)
        else:
            table = _first_rows(pq.ParquetFile(f), names, max(0, int(limit)))
    frame = table.to_pandas(types_mapper=None)
    for c in keep:
        name = c["name"]
        if name == labels:
            frame[name] = _as_labels(table.column(name))
        elif c.get("date_format") and c["type"] == ColumnType.DATETIME:
            frame[name] = pd.to_datetime(frame[name], format=c["date_format"], errors="coerce")
        elif pd.api.types.is_object_dtype(frame[name]) and c.get("physical") == "datetime":
            frame[name] = pd.to_datetime(frame[name], errors="coerce")
        elif c["type"] != c.get("detected_type") or c["type"] in (ColumnType.BOOLEAN, ColumnType.CATEGORICAL):
            frame[name] = _as_type(frame[name], c["type"])
        elif pd.api.types.is_string_dtype(frame[name]) and not pd.api.types.is_object_dtype(frame[name]):
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def _first_rows(parquet: pq.ParquetFile, names: list[str], limit: int) -> pa.Table:
    """The first ``limit`` rows of ``names``, reading row groups only until there are enough."""
    batches, rows = [], 0
    if limit:
        for batch in parquet.iter_batches(batch_size=limit, columns=names):
            batches.append(batch.slice(0, limit - rows))
            rows += len(batches[-1])
            if rows >= limit:
                break
    if not batches:
        return parquet.schema_arrow.empty_table().select(names)
    return pa.Table.from_batches(batches)


def _as_labels(column: pa.ChunkedArray) -> pd.Series:
    """Class labels as stored: integers without gaps as ``int64``, anything else as Python values (str, int,
    float, bool) with ``None`` for missing ones. Never the schema's boolean or text reading of them."""
    if pa.types.is_integer(column.type) and column.null_count == 0:
        return pd.Series(column.to_numpy().astype("int64"))
    return pd.Series(column.to_pylist(), dtype=object)


def preview_rows(version: DatasetVersion, rows: int) -> tuple[list[str], list[list]]:
    """The first ``rows`` rows of a version (all columns, excluded ones too) as JSON-friendly values."""
    with storage.open_file(version.parquet_file.name) as f:
        pf = pq.ParquetFile(f)
        batch = next(pf.iter_batches(batch_size=max(1, rows)), None)
        names = pf.schema_arrow.names
        if batch is None:
            return names, []
        records = batch.slice(0, rows).to_pylist()
    def plain(v):
        if v is None:
            return None
        if isinstance(v, float) and v != v:
            return None
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return v
    return names, [[plain(r[n]) for n in names] for r in records]


def export_preview_csv(version: DatasetVersion, rows: int) -> str:
    """The first rows as CSV text for download, with spreadsheet formulas neutralised."""
    names, data = preview_rows(version, rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([parsing.neutralize_formula(n) for n in names])
    for row in data:
        writer.writerow([parsing.neutralize_formula(v) for v in row])
    return buffer.getvalue()


# --- Sample data -----------------------------------------------------------------------------------------


def load_samples(workspace, user, *, synchronous: bool = False) -> list[DatasetVersion]:
    """Add the tutorial datasets to ``workspace``; skips any whose name exists already.

    Profiles are enqueued, so this is quick enough for a web request (about a second) and a worker makes the
    versions ready; ``synchronous=True`` profiles them here instead (the command's ``--sync``).
    """
    created = []
    for name, file_name, description, tags in SAMPLES:
        if Dataset.objects.filter(workspace=workspace, name=name).exists():
            continue
        path = SAMPLES_DIR / file_name
        with open(path, "rb") as f:
            version = create_dataset_version(workspace=workspace, user=user, name=name, uploaded=File(f, file_name),
                                             file_name=file_name, description=description,
                                             tags={**tags, "source": "sample"}, enqueue=not synchronous)
        if synchronous:
            profile_now(version)
            version.refresh_from_db()
        created.append(version)
    return created


def profile_now(version: DatasetVersion) -> None:
    """Run the version's queued profile job in this process (the ``load_samples --sync`` command)."""
    for job in version.profile_jobs.filter(status=ProfileJob.Status.QUEUED):
        run_profile(job.pk)


def delete_dataset(dataset: Dataset) -> None:
    """Delete a dataset with all its versions and their files; refused while experiments use a version."""
    versions = list(dataset.versions.all())
    if any(runs_using(versions).values()):
        raise DataError(f"{dataset.name} is used by experiment runs; it cannot be deleted.", field="name")
    folders = [v.parquet_file.name.rsplit("/", 1)[0] for v in versions]
    dataset.delete()
    for folder in folders:
        transaction.on_commit(lambda folder=folder: storage.remove_folder(folder))

