"""Resolving an annotation's ``data_path`` against a configured image root.

Annotation files carry the path an image had where they were made (ProVision's sample says
``sample_data/images/baseball_1.png``; our writer says ``images/<id>.png``), which is rarely
where the image is now. The rule: the longest trailing part of ``data_path`` that exists
under ``image_root`` wins (``images/x.png``, then ``x.png``); when none exists the file name
under ``image_root`` is returned, so a missing image is reported by whoever opens it.
Without an image root the ``data_path`` is returned as written.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


def resolve_image_path(data_path: str, image_root: str | os.PathLike[str] | None) -> str:
    if image_root is None:
        return data_path
    root = Path(image_root)
    parts = [p for p in PurePosixPath(data_path.replace("\\", "/")).parts if p not in ("/", "")]
    parts = [p for p in parts if p not in (".", "..")]
    for start in range(len(parts)):
        candidate = root.joinpath(*parts[start:])
        if candidate.is_file():
            return str(candidate)
    return str(root / parts[-1]) if parts else str(root)
