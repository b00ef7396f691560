"""Fixtures for dataset tests: uploading through the real API, and a view of the storage folder."""
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[3] / "examples" / "data"


@pytest.fixture
def storage_files(settings):
    """All files under the test storage folder right now (to prove bad input leaves none behind)."""
    def list_files() -> set[str]:
        root = Path(settings.MEDIA_ROOT)
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    return list_files


def multipart(fields: dict, file_bytes: bytes | None, file_name: str = "data.csv") -> tuple[bytes, str]:
    """A multipart body built by hand, so a file name can carry folder parts as a hostile client sends it."""
    boundary = "studio-test-boundary"
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    if file_bytes is not None:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
                     f"Content-Type: application/octet-stream\r\n\r\n".encode() + file_bytes + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def upload(api_for):
    """POST a file to /api/v1/datasets/ as ``user``; returns the response."""
    def post(user, content: bytes, name: str = "data", file_name: str = "data.csv", **fields):
        body, content_type = multipart({"name": name, **fields}, content, file_name)
        return api_for(user).generic("POST", "/api/v1/datasets/", body, content_type=content_type)
    return post


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """The team's four accounts are hashed with MD5 here: the tests are about datasets, not passwords."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def bank_sorted_by(column: str) -> bytes:
    """bank_marketing_train_data.csv with its rows sorted by ``column`` (a whole number), each line kept as it is:
    a file exported in some order, whose first rows are not like the rest."""
    header, *lines = (SAMPLES / "bank_marketing_train_data.csv").read_bytes().splitlines()
    index = header.decode().split(",").index(column)
    lines.sort(key=lambda line: int(line.split(b",")[index]))
    return b"\n".join([header, *lines]) + b"\n"
