"""Depth maps and instance masks on disk: deterministic writers, safe readers.

``numpy.savez_compressed`` stamps each zip member with the current time, so two saves of the
same masks differ; :func:`npz_bytes` writes the same archive with a fixed timestamp so equal
arrays give equal bytes. Pickled masks (ProVision's ``.pkl``, a list of SciPy sparse
matrices) are only unpickled when the caller allows it: a pickle can run code when loaded.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class AnnotationError(ValueError):
    """An annotation file is malformed or inconsistent (the message names the file)."""


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    """A compressed ``.npz`` archive of ``arrays``, byte-identical for identical arrays."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, npy_bytes(array))
    return buf.getvalue()


def load_depth(path: Path, height: int, width: int) -> np.ndarray:
    """A uint8 ``(height, width)`` depth map from ``.npy`` (higher = closer)."""
    if not path.is_file():
        raise AnnotationError(f"{path}: depth map file not found")
    try:
        depth = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise AnnotationError(f"{path}: not a plain .npy array ({err})") from None
    if depth.shape != (height, width):
        raise AnnotationError(
            f"{path}: depth map has shape {depth.shape}, expected (height, width) = "
            f"({height}, {width})"
        )
    if depth.dtype != np.uint8:
        if not np.issubdtype(depth.dtype, np.integer) or depth.min() < 0 or depth.max() > 255:
            raise AnnotationError(f"{path}: depth map must hold uint8 values, got {depth.dtype}")
        depth = depth.astype(np.uint8)
    return depth


def _stack_masks(obj: object, path: Path) -> np.ndarray:
    if isinstance(obj, dict) and "masks" in obj:
        obj = obj["masks"]
    if isinstance(obj, np.ndarray):
        return obj.astype(bool)
    if isinstance(obj, (list, tuple)):
        dense = [m.toarray() if hasattr(m, "toarray") else np.asarray(m) for m in obj]
        if not dense:
            return np.zeros((0, 0, 0), dtype=bool)
        return np.stack(dense).astype(bool)
    raise AnnotationError(
        f"{path}: expected masks as an array or a list of (sparse) arrays, got "
        f"{type(obj).__name__}"
    )


def pickle_refusal(path: Path) -> str:
    return (
        f"{path}: refused to unpickle instance masks (a pickle can run arbitrary code when "
        "loaded); pass allow_pickle=True only if you trust this file, or convert it to .npz"
    )


def load_masks(
    path: Path, n_objects: int, height: int, width: int, allow_pickle: bool
) -> tuple[np.ndarray | None, str | None]:
    """Bool ``(n, H, W)`` masks from ``.npz`` / ``.npy`` / ``.pkl``, or ``(None, reason)``.

    A ``.pkl`` file is refused (``None`` and the reason, naming the file) unless
    ``allow_pickle``.
    """
    suffix = path.suffix.lower()
    if suffix in (".pkl", ".pickle") and not allow_pickle:
        return None, pickle_refusal(path)
    if not path.is_file():
        raise AnnotationError(f"{path}: mask file not found")
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as archive:
                if "masks" not in archive.files:
                    raise AnnotationError(
                        f"{path}: no array named 'masks' (found {archive.files})"
                    )
                masks = archive["masks"].astype(bool)
        elif suffix == ".npy":
            masks = np.load(path, allow_pickle=False).astype(bool)
        elif suffix in (".pkl", ".pickle"):
            with open(path, "rb") as fh:
                masks = _stack_masks(pickle.load(fh), path)  # allowed explicitly by the caller
        else:
            raise AnnotationError(f"{path}: unknown mask format {suffix!r} (.npz, .npy, .pkl)")
    except (ValueError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        if isinstance(err, AnnotationError):
            raise
        raise AnnotationError(f"{path}: cannot read masks ({err})") from None
    if masks.ndim == 2:
        masks = masks[None]
    if n_objects == 0 and masks.size == 0:
        return np.zeros((0, height, width), dtype=bool), None
    if masks.shape != (n_objects, height, width):
        raise AnnotationError(
            f"{path}: masks have shape {masks.shape}, expected (n_objects, height, width) = "
            f"({n_objects}, {height}, {width})"
        )
    return masks, None
