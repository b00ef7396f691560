"""Failure throttling for everything that checks a secret: sign-in (per account and per client address), API
tokens and scoring keys (per client address). Counters live in Django's cache, which is Redis when the
studio runs with Redis and a folder under the data directory otherwise, so every web process shares them.

A fixed window per key: the first failure opens a window of ``STUDIO_THROTTLE_WINDOW_SECONDS``; past the
limit within it, even a correct secret is refused until the window ends, so guessing gains nothing.
"""
import hashlib

from django.conf import settings
from django.core.cache import cache


def client_address(request) -> str:
    """The client's address: behind the HTTPS proxy the last X-Forwarded-For entry (the one the proxy added;
    earlier entries come from the client and can be forged), else the socket's peer."""
    if settings.BEHIND_HTTPS_PROXY:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
        if forwarded:
            return forwarded[-1]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _key(scope: str, who: str) -> str:
    return f"throttle:{scope}:{hashlib.sha256(who.lower().encode()).hexdigest()[:32]}"


def is_blocked(scope: str, who: str, limit: int) -> bool:
    """Whether ``who`` used up its ``limit`` failures in ``scope`` within the current window."""
    return (cache.get(_key(scope, who)) or 0) >= limit


def record_failure(scope: str, who: str) -> int:
    """Count one failure of ``who`` in ``scope``; returns the count within the window."""
    key = _key(scope, who)
    cache.add(key, 0, timeout=settings.STUDIO_THROTTLE_WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, timeout=settings.STUDIO_THROTTLE_WINDOW_SECONDS)
        return 1


def reset(scope: str, who: str) -> None:
    cache.delete(_key(scope, who))


def retry_after_minutes() -> int:
    return max(1, settings.STUDIO_THROTTLE_WINDOW_SECONDS // 60)
