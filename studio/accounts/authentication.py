"""API authentication of the studio: DRF's token scheme with failures throttled per client address."""
from django.conf import settings
from rest_framework.authentication import TokenAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

from studio.accounts import throttle


class ThrottledTokenAuthentication(TokenAuthentication):
    """DRF's token authentication with failures counted per client address: past
    ``STUDIO_AUTH_FAILURES_PER_IP`` within the window, every token from that address gets a 429."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        address = throttle.client_address(request)
        if throttle.is_blocked("token", address, settings.STUDIO_AUTH_FAILURES_PER_IP):
            raise Throttled(detail=f"Too many requests with invalid tokens from your address; try again in "
                                   f"{throttle.retry_after_minutes()} minutes.",
                            wait=settings.STUDIO_THROTTLE_WINDOW_SECONDS)
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            throttle.record_failure("token", address)
            raise
