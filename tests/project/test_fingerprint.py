"""Cache keys: one module builds them, and a checkpoint's bytes are read once per process."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from datarecipes import fingerprint
from datarecipes.fingerprint import checkpoint_fingerprint, digest, json_digest


def test_digests_are_the_sha256_layouts_existing_caches_are_named_by():
    # Existing cache directories keep their names only while these layouts hold.
    payload = {"b": [1, 2], "a": "x"}
    assert json_digest(payload) == hashlib.sha256(
        json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
    assert digest("a", b"b", length=None) == hashlib.sha256(b"ab").hexdigest()
    assert json_digest({"a": "x", "b": [1, 2]}) == json_digest(payload)
    assert json_digest({"a": "y", "b": [1, 2]}) != json_digest(payload)


def _checkpoint(root: Path, age_s: float) -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "model.safetensors").write_bytes(b"\x00" * 4096)
    (root / "sub" / "config.json").write_text("{}")
    old = time.time() - age_s
    for path in (root / "model.safetensors", root / "sub" / "config.json"):
        os.utime(path, (old, old))
    return root


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Names of the files ``checkpoint_fingerprint`` opens."""
    opened: list[str] = []
    real_open = Path.open

    def counting_open(self: Path, *args, **kwargs):
        opened.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    return opened


def test_unchanged_checkpoint_is_hashed_once_and_any_change_is_seen(tmp_path, reads, monkeypatch):
    root = _checkpoint(tmp_path / "ckpt", age_s=60)
    # The ctime of a file just written is now (utime cannot set it back): shrink the "racy"
    # window instead of waiting two seconds.
    monkeypatch.setattr(fingerprint, "_RACY_NS", 0)
    time.sleep(0.05)
    reads.clear()
    first = checkpoint_fingerprint(root)
    assert sorted(reads) == ["config.json", "model.safetensors"]
    reads.clear()
    assert checkpoint_fingerprint(root) == first and reads == []  # remembered: no byte read
    assert checkpoint_fingerprint(str(root)) == first and reads == []

    # Retrained in place: same size, mtime set back to the old one; the ctime still moves.
    stat = os.stat(root / "model.safetensors")
    (root / "model.safetensors").write_bytes(b"\x00" * 4095 + b"\x01")
    os.utime(root / "model.safetensors", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    time.sleep(0.05)
    reads.clear()
    changed = checkpoint_fingerprint(root)
    assert changed != first and sorted(reads) == ["config.json", "model.safetensors"]
    reads.clear()
    assert checkpoint_fingerprint(root) == changed and reads == []
    (root / "extra.bin").write_bytes(b"")
    assert checkpoint_fingerprint(root) != changed  # a new file changes the key


def test_freshly_written_files_are_never_remembered(tmp_path, reads):
    # A rewrite within the file system's timestamp granularity could keep size and mtime.
    root = _checkpoint(tmp_path / "ckpt", age_s=0)
    checkpoint_fingerprint(root)
    reads.clear()
    checkpoint_fingerprint(root)
    assert sorted(reads) == ["config.json", "model.safetensors"]
    assert str(root.resolve()) not in fingerprint._checkpoints
