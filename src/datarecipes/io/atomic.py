"""Atomic writes: a file appears under its final name only once it is complete.

An interrupted run must never leave a half-written file that a later run takes for finished,
so everything we write goes to a temporary sibling first, is fsync'ed, and is renamed into
place (``os.replace`` is atomic on POSIX within one filesystem; the parent directory is
fsync'ed after the rename so the new name survives a power cut too).

Temporary names start with ``.`` and end with ``.tmp`` (``.<name>.<pid>.<random>.tmp``);
:func:`is_temporary_name` recognises them so listings (partitioned datasets) skip them, and
the temporaries of a process that no longer runs (a ``kill -9``) are removed by the next
write of the same name.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Suffix of every temporary file or directory this module creates.
TMP_SUFFIX = ".tmp"


def is_temporary_name(name: str) -> bool:
    """Whether a path component is a temporary or hidden name that is never real data.

    Hidden names (``.x``) cover our temporaries (``.name.123.ab.tmp``), the ``.old`` copy
    of a directory being swapped and editor/OS litter (``.DS_Store``, ``.ipynb_checkpoints``).
    """
    return name.startswith(".") or name.endswith(TMP_SUFFIX)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    return True


def _owner_pid(name: str, stem: str) -> int | None:
    """The pid encoded in a temporary name ``.<stem>.<pid>.<rest>``, else None."""
    prefix = f".{stem}."
    if not name.startswith(prefix):
        return None
    head = name[len(prefix):].split(".", 1)[0]
    return int(head) if head.isdigit() else None


def remove_stale_temporaries(final: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries of ``final`` left by processes that are no longer running."""
    final = Path(final)
    removed: list[Path] = []
    if not final.parent.is_dir():
        return removed
    for sibling in final.parent.iterdir():
        pid = _owner_pid(sibling.name, final.name)
        if pid is None or pid == os.getpid() or pid_alive(pid):
            continue
        if not (sibling.name.endswith(TMP_SUFFIX) or sibling.name.endswith(".old")):
            continue
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)
        removed.append(sibling)
    return removed


def fsync_tree(path: str | os.PathLike[str]) -> None:
    """fsync a file, or every file and directory under a directory."""
    path = Path(path)
    if path.is_symlink() or not path.exists():
        return
    if path.is_file():
        _fsync(path, os.O_RDONLY)
        return
    for root, _dirs, files in os.walk(path):
        for name in files:
            full = Path(root) / name
            if not full.is_symlink():
                _fsync(full, os.O_RDONLY)
        _fsync(Path(root), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def _fsync(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    except OSError as exc:  # some filesystems refuse fsync on directories
        if exc.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory, so a rename inside it is durable."""
    with contextlib.suppress(FileNotFoundError):
        _fsync(Path(path), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))


def replace_path(source: str | os.PathLike[str], final: str | os.PathLike[str]) -> None:
    """Move the complete ``source`` (file or directory) to ``final``, replacing what is there.

    A directory is swapped: the old one is renamed aside, the new one renamed in, the old
    removed. At every instant ``final`` is the old complete output, the new complete output,
    or (between the two renames) absent, which every loader treats as missing.
    """
    source, final = Path(source), Path(final)
    if final.is_dir() and not final.is_symlink():
        old = final.with_name(f".{final.name}.{os.getpid()}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(final, old)
        os.replace(source, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, final)
    fsync_dir(final.parent)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync it and rename it to ``path``.

    Works for files and for directories (the caller creates a directory at the yielded
    path). The yielded path keeps ``path``'s name (writers that infer the format from the
    suffix still work), inside a temporary directory in the same parent. On error the
    temporary is removed and ``path`` is left as it was.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=TMP_SUFFIX,
                         dir=final.parent)
    )
    target = tmp / final.name
    try:
        yield target
        if not target.exists() and not target.is_symlink():
            raise FileNotFoundError(f"nothing was written to the temporary path {target}")
        fsync_tree(target)
        replace_path(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
