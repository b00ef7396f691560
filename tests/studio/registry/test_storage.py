"""Artifacts are written atomically: a reader sees nothing or the whole file, never half of it."""
import hashlib

import pytest

from studio.registry.services import write_atomically


def test_write_atomically_returns_the_hash_and_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "v" / "model.pkl"
    digest = write_atomically(target, [b"abc", b"def"])
    assert digest == hashlib.sha256(b"abcdef").hexdigest()
    assert target.read_bytes() == b"abcdef"
    assert [p.name for p in target.parent.iterdir()] == ["model.pkl"]


def test_a_failed_write_leaves_the_previous_file_untouched(tmp_path):
    target = tmp_path / "model.pkl"
    target.write_bytes(b"complete old file")

    def chunks():
        yield b"half of a new "
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, chunks())
    assert target.read_bytes() == b"complete old file"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pkl"]
