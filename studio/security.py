"""Request hygiene in front of everything else."""
import json
import tempfile

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpResponse


class RejectNulMiddleware:
    """400 for a request whose path, query string or cookies hold a NUL character.

    Postgres cannot store or compare text with NUL (psycopg raises ValueError), so ``/api/v1/endpoints/%00/``
    or a session cookie with one used to end in a 500; no legitimate client sends one.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if "\x00" in request.path or "%00" in meta.get("QUERY_STRING", "") \
                or "\x00" in meta.get("QUERY_STRING", "") or "\x00" in meta.get("HTTP_COOKIE", "") \
                or "%00" in meta.get("HTTP_COOKIE", ""):
            return HttpResponse(json.dumps({"detail": "The URL, query or a cookie contains a NUL character "
                                                      "(%00), which no name or value here may hold."}),
                                status=400, content_type="application/json")
        return self.get_response(request)


class ChunkedBodyMiddleware:
    """Make a body sent with ``Transfer-Encoding: chunked`` readable by the views.

    Django reads exactly ``Content-Length`` bytes and a chunked request has none, so an upload streamed by a
    client that does not know its size up front (``curl -T -``, a generator body in ``requests``, a proxy that
    re-chunks) arrived as an empty file: "The file is empty (0 bytes)". gunicorn decodes the chunks; this
    reads them into a spooled temporary file (memory up to ``FILE_UPLOAD_MAX_MEMORY_SIZE``, then disk) and
    hands the views a body of known length, so the wizard's raw upload, multipart API uploads and JSON
    bodies behave as if the length had been sent. Past ``STUDIO_MAX_UPLOAD_BYTES`` (plus room for multipart
    framing) it answers 400 while reading, as every upload limit does, so a chunked body cannot fill the disk.
    """

    FRAMING_BYTES = 64 << 10

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        if "chunked" not in meta.get("HTTP_TRANSFER_ENCODING", "").lower() or meta.get("CONTENT_LENGTH"):
            return self.get_response(request)
        limit = settings.STUDIO_MAX_UPLOAD_BYTES + self.FRAMING_BYTES
        with tempfile.SpooledTemporaryFile(max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
                                           dir=settings.FILE_UPLOAD_TEMP_DIR) as body:
            size = 0
            source = meta["wsgi.input"]
            while True:
                chunk = source.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    return self._too_large(request)
                body.write(chunk)
            body.seek(0)
            meta["CONTENT_LENGTH"] = str(size)
            request._stream = LimitedStream(body, size)
            return self.get_response(request)

    @staticmethod
    def _too_large(request) -> HttpResponse:
        from studio.datasets.parsing import human_bytes

        message = (f"The request body is larger than the upload limit of "
                   f"{human_bytes(settings.STUDIO_MAX_UPLOAD_BYTES)}; compress the file with gzip or convert it to "
                   "Parquet. An administrator can raise STUDIO_MAX_UPLOAD_BYTES.")
        body = {"detail": message} if request.path.startswith("/api/") else {"error": message, "field": "file"}
        response = HttpResponse(json.dumps(body), status=400, content_type="application/json")
        response["Connection"] = "close"  # the rest of the body is not read
        return response
