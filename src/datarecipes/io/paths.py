"""The one rule for where an image a record names is now.

Records carry image paths written elsewhere: ProVision annotations say
``sample_data/images/baseball_1.png``, our scenes world ``images/<id>.png`` (relative to the
world's folder), a LLaVA file ``coco/train2017/x.jpg`` (relative to an image root the user
names), a parquet an absolute path. Every reader resolves them through
:func:`resolve_image_path` against the root the catalog configured for that data (a dataset's
``image_root``), so the annotation readers, the ThinkLite and filtering sources, the filtering
world and the trainers agree on what a path means.

This module is plain library code (no Kedro): the readers in ``annotations/``, ``thinklite/``,
``filtering/`` and ``training/`` import it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

PathLike = str | os.PathLike[str]


def _parts(path: str) -> list[str]:
    """The path's components, Windows separators read as ``/``, ``.``/``..`` dropped (a
    record's path never climbs out of the image root)."""
    return [p for p in PurePosixPath(path.replace("\\", "/")).parts
            if p not in ("/", "", ".", "..")]


def resolve_image_path(path: PathLike, image_root: PathLike | None) -> str:
    """Where the image at ``path`` (as a record wrote it) is, given the data's ``image_root``.

    In order, the first that applies:

    1. an absolute path that is a file is kept;
    2. without an image root, the path is returned as written;
    3. ``image_root / path``, when it is a file;
    4. a relative path that is a file as written (relative to the working directory, the
       project root in a run: a record that already carries its root, like the scenes
       world's ``data/01_raw/scenes/images/x.png``) is kept;
    5. the longest trailing part of ``path`` that is a file under ``image_root``
       (``images/x.png``, then ``x.png``): annotation files keep the folders the image had
       where they were made;
    6. found nowhere: a relative path is returned joined on the root (``image_root / path``),
       an absolute one as written, so whoever opens it reports the place the record names.

    Raises ``ValueError`` for an empty path.
    """
    text = os.fspath(path)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty image path {path!r} (image root {image_root!s})")
    if os.path.isabs(text) and os.path.isfile(text):
        return text
    if image_root is None:
        return text
    root = Path(image_root)
    if not os.path.isabs(text):
        joined = root / text
        if joined.is_file():
            return str(joined)
        if os.path.isfile(text):
            return text
    parts = _parts(text)
    for start in range(len(parts)):
        candidate = root.joinpath(*parts[start:])
        if candidate.is_file():
            return str(candidate)
    return text if os.path.isabs(text) else str(root / text)
