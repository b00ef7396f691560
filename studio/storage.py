"""Storage helpers the apps share: files live in Django's ``default_storage`` under storage-relative names
(``datasets/<uuid>/raw.csv``, ``experiments/runs/<id>/...``); these turn names into local paths and back,
open them and remove folders."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import BinaryIO

from django.core.files.storage import default_storage


def local_path(name: str) -> Path | None:
    """The file's path on this machine, or None when the storage is not a local filesystem."""
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:
        return None


def storage_path(relative: str) -> Path:
    """Absolute path of a storage-relative name on this machine (local filesystem storage only)."""
    return Path(default_storage.path(relative))


def relative_to_storage(path: str | Path) -> str:
    """Storage-relative form of an absolute path under MEDIA_ROOT (kept as is when outside it)."""
    root = Path(default_storage.path("")).resolve()
    p = Path(path).resolve()
    try:
        return str(p.relative_to(root))
    except ValueError:
        return str(path)


def open_file(name: str) -> BinaryIO:
    """Open a stored file for binary reading."""
    return default_storage.open(name, "rb")


def remove_folder(folder: str) -> None:
    """Delete a storage folder and everything in it."""
    local = local_path(folder)
    if local is not None:
        shutil.rmtree(local, ignore_errors=True)
        return
    _dirs, files = default_storage.listdir(folder)
    for f in files:
        default_storage.delete(f"{folder}/{f}")
