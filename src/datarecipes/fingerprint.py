"""Fingerprints: the digests that name caches, resume directories and manifests.

Every cache key in the project is built here, so two caches never hash the same thing two
ways. All are SHA-256 hex digests, usually cut to 16 characters (64 bits: enough to keep a
few thousand cache entries apart, short enough for a directory name). The byte layout of each
is fixed: changing one renames every existing cache directory it names.

* :func:`digest` / :func:`json_digest`: of text and bytes, or of a JSON-able payload;
* :func:`policy_fingerprint`: a model's parameters, sampled (instant for a 7B model);
* :func:`state_fingerprint`: a model's whole state dict;
* :func:`checkpoint_fingerprint`: a checkpoint directory's files, every byte, memoised per
  process by the files' ``stat`` so one run hashes an unchanged checkpoint once.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Characters a fingerprint keeps unless told otherwise.
LENGTH = 16


def digest(*parts: bytes | str, length: int | None = LENGTH) -> str:
    """SHA-256 of ``parts`` concatenated (``str`` as UTF-8), hex, cut to ``length``
    (``None``: all 64 characters)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8") if isinstance(part, str) else part)
    return h.hexdigest()[:length]


def json_digest(payload: Any, length: int | None = LENGTH) -> str:
    """:func:`digest` of ``payload`` as JSON with sorted keys (dict order does not matter)."""
    return digest(json.dumps(payload, sort_keys=True), length=length)


def policy_fingerprint(model: Any, values_per_tensor: int = 256) -> str:
    """A short digest of the model's weights: names, shapes and the first
    ``values_per_tensor`` values of every parameter.

    Any training step changes some of those values, so results cached for one policy (the
    resumable MCTS partitions) are never reused for another; hashing a slice instead of every
    weight keeps this instant for a 7B model.
    """
    import torch

    h = hashlib.sha256()
    with torch.no_grad():
        for name, param in model.named_parameters():
            h.update(f"{name}:{tuple(param.shape)}:{param.dtype}".encode())
            head = param.detach().reshape(-1)[:values_per_tensor].to("cpu", torch.float32)
            h.update(head.numpy().tobytes())
    return h.hexdigest()[:LENGTH]


def state_fingerprint(model: torch.nn.Module) -> str:
    """A short content hash of a model's whole state dict (keys resumable results to it)."""
    h = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:LENGTH]


#: Files changed this recently (ns) are hashed again on every call: a rewrite within the
#: file system's timestamp granularity could keep size and mtime (Git's "racy" files).
_RACY_NS = 2_000_000_000
#: Per resolved directory: (the stat of its files when hashed, their fingerprint).
_checkpoints: dict[str, tuple[tuple[Any, ...], str]] = {}


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _stat_key(root: Path, files: list[Path]) -> tuple[Any, ...]:
    key = []
    for path in files:
        st = os.stat(path)
        key.append((str(path.relative_to(root)), st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                    st.st_ino, st.st_dev))
    return tuple(key)


def checkpoint_fingerprint(directory: str | Path) -> str:
    """A digest of a checkpoint directory's files (names and full contents).

    Used where the policy arrives as a directory: the driver then never loads the model just to
    name a cache (with Ray the model lives only in the actors). Reading every byte costs a few
    seconds per GB; anything less (sizes, mtimes, a slice) lets a retrained checkpoint of the
    same shape reuse another policy's scores. So the bytes are always what is hashed, but the
    result is remembered for this process under the files' ``stat`` (names, sizes, mtimes,
    ctimes, inodes): asking again about an unchanged checkpoint, as every node of a run does,
    costs a ``stat`` per file. Files modified in the last two seconds are never remembered.
    """
    root = Path(directory)
    files = _files(root)
    before = _stat_key(root, files)
    cache_key = str(root.resolve())
    cached = _checkpoints.get(cache_key)
    if cached is not None and cached[0] == before:
        return cached[1]
    started = time.time_ns()
    h = hashlib.sha256()
    for path in files:
        h.update(str(path.relative_to(root)).encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                h.update(block)
    result = h.hexdigest()[:LENGTH]
    settled = all(max(mtime, ctime) < started - _RACY_NS for _, _, mtime, ctime, _, _ in before)
    if settled and _files(root) == files and _stat_key(root, files) == before:
        _checkpoints[cache_key] = (before, result)
    else:
        _checkpoints.pop(cache_key, None)
    return result
