"""REST API of datasets: upload (multipart), list, detail, profile, preview and schema changes.

``{id}`` is the dataset; every per-dataset endpoint acts on its latest version unless ``?version=N`` names
another one.
"""
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload, TemporaryFileUploadHandler
from django.http import HttpResponse
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.parsers import DataAndFiles, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from studio.api import WorkspaceScopedMixin
from studio.datasets import parsing, services
from studio.datasets.models import Dataset, DatasetVersion
from studio.datasets.parsing import DELIMITERS, DataError

MAX_PREVIEW_ROWS = 1000


class SizeLimitHandler(FileUploadHandler):
    """Stops reading an upload as soon as it passes ``STUDIO_MAX_UPLOAD_BYTES`` and remembers that it did."""

    def __init__(self, request=None):
        super().__init__(request)
        self.limit = settings.STUDIO_MAX_UPLOAD_BYTES
        self.received = 0
        self.exceeded = False

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # A declared length far past the limit is refused before a byte of the file is read.
        if content_length and content_length > self.limit + 1024 * 1024:
            self.received = content_length
            self.exceeded = True
            raise StopUpload(connection_reset=True)

    def receive_data_chunk(self, raw_data, start):
        self.received = start + len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size):
        return None


class EarlyConversionHandler(FileUploadHandler):
    """Hands the uploaded ``file`` field to a ``parsing.EarlyConversion`` chunk by chunk as it arrives, so that
    the Parquet copy is mostly written by the time the last byte is in; the view decides whether to use it.
    The bytes are passed on unchanged to the next handler, which stores the raw file."""

    def __init__(self, request=None):
        super().__init__(request)
        self.conversion: parsing.EarlyConversion | None = None
        self.feeding = False

    def new_file(self, field_name, file_name, *args, **kwargs):
        super().new_file(field_name, file_name, *args, **kwargs)
        self.feeding = field_name == "file" and self.conversion is None
        if self.feeding:
            out = Path(settings.FILE_UPLOAD_TEMP_DIR) / f"{uuid.uuid4().hex}.early.parquet"
            self.conversion = parsing.EarlyConversion(file_name, out, settings.STUDIO_MAX_COLUMNS,
                                                      services.upload_limits())

    def receive_data_chunk(self, raw_data, start):
        if self.feeding:
            self.conversion.feed(raw_data)
        return raw_data

    def file_complete(self, file_size):
        if self.feeding:
            self.conversion.finish()
            self.feeding = False
        return None

    def discard(self) -> None:
        if self.conversion is not None:
            self.conversion.discard()


class _NameRecordingParser(DjangoMultiPartParser):
    """Django's multipart parser, remembering the file names as the client sent them (with any folders)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.raw_names: list[str] = []

    def sanitize_file_name(self, file_name):
        self.raw_names.append(file_name)
        return super().sanitize_file_name(file_name)


class UploadParser(MultiPartParser):
    """Multipart parsing that keeps the client's raw file names on ``request.raw_upload_names``."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = parser_context["request"]
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = _NameRecordingParser(meta, stream, request.upload_handlers, parser_context.get("encoding") or
                                          settings.DEFAULT_CHARSET)
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}")
        request._request.raw_upload_names = parser.raw_names
        return DataAndFiles(data, files)


class UploadSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, allow_empty_file=True, use_url=False)
    name = serializers.CharField(max_length=200, error_messages={
        "required": "Give the dataset a name, for example name=bank-marketing.",
        "blank": "Give the dataset a name, for example name=bank-marketing."})
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tags = serializers.JSONField(required=False, default=dict)
    delimiter = serializers.CharField(required=False, trim_whitespace=False, max_length=2)
    encoding = serializers.CharField(required=False, max_length=40)
    # default=None: a multipart form that leaves "header" out means "detect", not False.
    header = serializers.BooleanField(required=False, allow_null=True, default=None)
    skip_rows = serializers.IntegerField(required=False, min_value=0, max_value=1_000_000)
    quote_char = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, max_length=1)

    def validate_delimiter(self, value):
        aliases = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": " "}
        value = aliases.get(value.lower(), value) if value else value
        if len(value) != 1:
            raise serializers.ValidationError(
                f"The delimiter must be one character (or tab); got {value!r}. Common ones: "
                + ", ".join(repr(d) for d in DELIMITERS) + ".")
        return value

    def validate_tags(self, value):
        if not isinstance(value, dict) or not all(isinstance(v, (str, int, float, bool)) for v in value.values()):
            raise serializers.ValidationError('Tags are a JSON object of names to values, e.g. {"team": "risk"}.')
        return {str(k): str(v) for k, v in value.items()}


class SchemaSerializer(serializers.Serializer):
    types = serializers.DictField(child=serializers.CharField(), required=False, default=dict)
    excluded = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    included = serializers.ListField(child=serializers.CharField(), required=False, default=list)


def column_payload(c: dict) -> dict:
    return {"name": c["name"], "type": c["type"], "missing": c["missing"], "distinct": c["distinct"],
            "excluded": c.get("excluded", False), "detected_type": c.get("detected_type", c["type"]),
            "flags": c.get("flags", [])}


def version_payload(version: DatasetVersion, with_versions: bool = False) -> dict:
    dataset = version.dataset
    data = {
        "id": dataset.pk, "name": dataset.name, "description": dataset.description, "tags": dataset.tags,
        "version": version.version, "version_id": version.pk, "status": version.status, "error": version.error,
        "n_rows": version.n_rows, "n_columns": version.n_columns,
        "columns": [column_payload(c) for c in version.columns],
        "file_name": version.original_name, "file_size": version.raw_size, "parse_settings": version.parse_settings,
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by.username if version.created_by else None,
    }
    if with_versions:
        data["versions"] = [{"version": v.version, "version_id": v.pk, "status": v.status, "n_rows": v.n_rows,
                             "created_at": v.created_at.isoformat()} for v in dataset.versions.order_by("-version")]
    return data


def data_error_response(exc: DataError) -> Response:
    body = {exc.field or "file": [exc.message], "detail": exc.message}
    if exc.line:
        body["line"] = exc.line
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


class _DatasetScoped(WorkspaceScopedMixin, APIView):
    def get_version(self, pk) -> DatasetVersion:
        dataset = get_object_or_404(self.scope(Dataset.objects.all()), pk=pk)
        raw = self.request.query_params.get("version")
        versions = dataset.versions.select_related("dataset", "created_by")
        if raw in (None, "", "latest"):
            version = versions.order_by("-version").first()
        else:
            try:
                version = versions.filter(version=int(raw)).first()
            except ValueError:
                raise NotFound(f"version={raw!r} is not a version number; use e.g. ?version=1.")
        if version is None:
            raise NotFound(f"{dataset.name} has no version {raw}; see its versions at /api/v1/datasets/{dataset.pk}/.")
        return version


class DatasetListView(_DatasetScoped):
    """List the workspace's datasets (latest version each) or upload a file as a new dataset / version."""

    parser_classes = [UploadParser]

    def initialize_request(self, request, *args, **kwargs):
        # Straight to a temporary file on the data disk, in 4 MB chunks: Django's parser loops in Python once
        # per chunk, and its 64 KB default makes a gigabyte upload CPU-bound.
        self.size_handler = SizeLimitHandler(request)
        self.early_handler = EarlyConversionHandler(request)
        to_disk = TemporaryFileUploadHandler(request)
        to_disk.chunk_size = self.size_handler.chunk_size = self.early_handler.chunk_size = 4 * 1024 * 1024
        request.upload_handlers = [self.size_handler, self.early_handler, to_disk]
        return super().initialize_request(request, *args, **kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        # Whatever happened to the request, an early conversion it did not use stops and leaves no file.
        if hasattr(self, "early_handler"):
            self.early_handler.discard()
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(operation_id="datasets_list", responses=OpenApiTypes.OBJECT)
    def get(self, request):
        datasets = self.scope(Dataset.objects.all()).order_by("name")
        latest = {}
        for v in DatasetVersion.objects.filter(dataset__in=datasets).select_related("dataset", "created_by") \
                .order_by("dataset_id", "version"):
            latest[v.dataset_id] = v
        return Response({"count": len(latest), "results": [version_payload(latest[d.pk]) for d in datasets
                                                           if d.pk in latest]})

    @extend_schema(operation_id="datasets_upload", request={"multipart/form-data": UploadSerializer},
                   responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        try:
            data, files = request.data, request.FILES
        except ParseError:
            if not self.size_handler.exceeded:
                raise
            data, files = {}, {}
        if self.size_handler.exceeded:
            return data_error_response(DataError(services.too_large_message(self.size_handler.received,
                                                                            self.size_handler.limit), field="file"))
        raw_names = getattr(request._request, "raw_upload_names", [])
        for raw in raw_names:
            if raw and raw.replace("\\", "/").rsplit("/", 1)[-1] != raw or raw in (".", ".."):
                return data_error_response(DataError(
                    f"The file name {raw!r} contains folder parts; upload the file under a plain name such as "
                    "data.csv.", field="file"))
        serializer = UploadSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        upload = files.get("file")
        if upload is None:
            return data_error_response(DataError(
                "No file in the request; send it as the multipart field 'file' (curl -F file=@data.csv).",
                field="file"))
        fields = serializer.validated_data
        overrides = {k: fields[k] for k in ("delimiter", "encoding", "header", "skip_rows", "quote_char") if fields.get(k) is not None}
        try:
            version = services.create_dataset_version(
                workspace=request.workspace, user=request.user, name=fields["name"], uploaded=upload,
                file_name=raw_names[0] if raw_names else upload.name, description=fields["description"],
                tags=fields["tags"], settings_overrides=overrides, early=self.early_handler.conversion)
        except DataError as exc:
            return data_error_response(exc)
        return Response(version_payload(version, with_versions=True), status=status.HTTP_201_CREATED)


class DatasetDetailView(_DatasetScoped):
    """One dataset at its latest version (or ``?version=N``), with the list of its versions."""

    @extend_schema(responses=OpenApiTypes.OBJECT,
                   parameters=[OpenApiParameter("version", int, description="a version number; the latest if omitted")])
    def get(self, request, pk):
        return Response(version_payload(self.get_version(pk), with_versions=True))


class DatasetProfileView(_DatasetScoped):
    """The profile of a version: 200 with the statistics when ready, else its status and any error."""

    @extend_schema(operation_id="datasets_profile", responses=OpenApiTypes.OBJECT)
    def get(self, request, pk):
        version = self.get_version(pk)
        job = version.latest_profile_job()
        profile = services.profile_of(version)
        return Response({"id": version.dataset_id, "version": version.version, "status": version.status,
                         "job": {"status": job.status if job else None, "error": job.error if job else "",
                                 "started_at": job.started_at.isoformat() if job and job.started_at else None,
                                 "finished_at": job.finished_at.isoformat() if job and job.finished_at else None},
                         "profile": profile})

    @extend_schema(operation_id="datasets_profile_again", request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        """Profile a version again after its profile failed (editors); 400 when it did not fail."""
        version = self.get_version(pk)
        try:
            job = services.profile_again(version)
        except DataError as exc:
            return Response({"detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"id": version.dataset_id, "version": version.version, "status": "profiling",
                         "job": {"status": job.status, "error": ""}}, status=status.HTTP_202_ACCEPTED)


class DatasetPreviewView(_DatasetScoped):
    """The first ``rows`` rows (default 50, at most 1000); ``?download=csv`` downloads them as CSV."""

    @extend_schema(operation_id="datasets_preview", responses=OpenApiTypes.OBJECT, parameters=[
        OpenApiParameter("rows", int, description=f"how many rows, 1 to {MAX_PREVIEW_ROWS} (default 50)"),
        OpenApiParameter("download", str, enum=["csv"], description="csv: download the rows as a CSV file")])
    def get(self, request, pk):
        version = self.get_version(pk)
        raw = request.query_params.get("rows", "50")
        try:
            rows = int(raw)
            if not 1 <= rows <= MAX_PREVIEW_ROWS:
                raise ValueError
        except ValueError:
            return Response({"rows": [f"rows must be a whole number from 1 to {MAX_PREVIEW_ROWS}; got {raw!r}."]},
                            status=status.HTTP_400_BAD_REQUEST)
        if request.query_params.get("download") == "csv":
            response = HttpResponse(services.export_preview_csv(version, rows), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="dataset-{version.dataset_id}-v{version.version}-preview.csv"'
            return response
        names, data = services.preview_rows(version, rows)
        return Response({"id": version.dataset_id, "version": version.version, "columns": names, "rows": data})


class DatasetSchemaView(_DatasetScoped):
    """Change column types or exclusions: ``{"types": {"col": "categorical"}, "excluded": [...], "included": [...]}``."""

    parser_classes = [JSONParser]

    @extend_schema(operation_id="datasets_schema_update", request=SchemaSerializer, responses=OpenApiTypes.OBJECT)
    def patch(self, request, pk):
        version = self.get_version(pk)
        serializer = SchemaSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            version = services.update_schema(version, serializer.validated_data)
        except DataError as exc:
            return data_error_response(exc)
        return Response(version_payload(version))

