"""Request hygiene in front of everything else."""
import json

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
