"""Uploads sent with ``Transfer-Encoding: chunked`` (a client that streams without knowing the size) through
gunicorn, the server `make run` uses: the wizard's upload and the API's multipart upload get the whole file,
not an empty one, and a chunked body past the upload limit is refused (400) while it is read."""
import http.client
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from studio.datasets.models import DatasetVersion, StagedUpload
from tests.conftest import ROOT, _database_url

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 200_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn(django_db_setup, storage_dir, tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": _database_url(), "STUDIO_STORAGE_DIR": str(storage_dir),
           "STUDIO_MAX_UPLOAD_BYTES": str(LIMIT), "DB_CONN_MAX_AGE": "0"}
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "studio.wsgi", "--bind", f"127.0.0.1:{port}",
                                    "--workers", "1"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
    yield port
    process.terminate()
    process.wait(timeout=20)


class Browser:
    """Cookies, CSRF and chunked bodies over http.client (which sends a generator body chunk by chunk)."""

    def __init__(self, port: int):
        self.port, self.cookies = port, {}

    def request(self, method, path, body=None, headers=None, chunked=False):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method == "POST":
            headers.setdefault("X-CSRFToken", self.cookies.get("csrftoken", ""))
            headers.setdefault("Referer", f"http://127.0.0.1:{self.port}/")
        connection.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        response = connection.getresponse()
        data = response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        connection.close()
        return response.status, data

    def sign_in(self, user):
        """A session made by the test client (the tests hash passwords with a hasher the server lacks)."""
        from django.test import Client

        client = Client()
        client.force_login(user)
        self.cookies["sessionid"] = client.cookies["sessionid"].value
        self.request("GET", "/datasets/new/")  # the CSRF cookie


def _pieces(data: bytes, size: int = 4096):
    for start in range(0, len(data), size):
        yield data[start:start + size]


CSV = b"age,job,y\n" + b"".join(f"{20 + i % 50},job{i % 7},{'yes' if i % 3 else 'no'}\n".encode()
                                  for i in range(3000))


def test_a_chunked_wizard_upload_gets_the_whole_file(team, gunicorn, storage_dir):
    browser = Browser(gunicorn)
    browser.sign_in(team.bob)
    status, body = browser.request("POST", "/datasets/uploads/", _pieces(CSV), {"X-File-Name": "chunked.csv"},
                                   chunked=True)
    assert status == 200, body
    staged = StagedUpload.objects.get(original_name="chunked.csv")
    assert staged.size == len(CSV) == 35_010
    assert (storage_dir / staged.file.name).read_bytes() == CSV


def test_a_chunked_api_upload_gets_the_whole_file(team, gunicorn, api_for):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=team.bob)
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nchunked\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"chunked.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode() + CSV + f"\r\n--{boundary}--\r\n".encode()
    status, answer = Browser(gunicorn).request(
        "POST", "/api/v1/datasets/", _pieces(body),
        {"Authorization": f"Token {token.key}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
        chunked=True)
    assert status == 201, answer
    version = DatasetVersion.objects.get(dataset__name="chunked")
    assert (version.raw_size, version.n_rows, version.n_columns) == (35_010, 3000, 3)


def test_a_chunked_body_past_the_limit_is_refused_while_it_is_read(team, gunicorn):
    browser = Browser(gunicorn)
    browser.sign_in(team.bob)
    big = CSV * 8  # 280,080 bytes, past the 200,000-byte limit and the 64 KB allowed for multipart framing
    status, body = browser.request("POST", "/datasets/uploads/", _pieces(big), {"X-File-Name": "big.csv"},
                                   chunked=True)
    assert status == 400, body
    assert body.decode() == ('{"error": "The request body is larger than the upload limit of 195.3 KB; compress the '
                             'file with gzip or convert it to Parquet. An administrator can raise '
                             'STUDIO_MAX_UPLOAD_BYTES.", "field": "file"}')
    assert not StagedUpload.objects.exists()
