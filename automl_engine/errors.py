"""The engine's configuration error, in a module of its own so that every other module (the task
modules included, which ``config`` itself reads) can import it without an import cycle."""
from __future__ import annotations


class ConfigError(ValueError):
    """An invalid job setting. ``setting`` names it (e.g. ``"limits.timeout_minutes"``) so a UI can show
    the message next to that field; the message says what is wrong and how to fix it."""

    def __init__(self, setting: str, message: str):
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.message = message
