"""A user's image-text pairs as the filtering recipe's input: read-only, every row kept.

Three layouts are read, detected from the path or named by ``format``:

* ``webdataset`` — tar shards as img2dataset writes them: per key ``<key>.jpg|jpeg|png|webp``
  and a caption in ``<key>.txt`` or in the ``caption`` field of ``<key>.json``. One or many
  shards: a file, a brace pattern (``/data/{00000..00009}.tar``), a glob or a folder of
  ``.tar`` files. Uncompressed shards are read header by header (``tarfile`` seeks past
  every image), and an image is referenced by its shard, offset and size and read in place
  when it is scored or packed: nothing is extracted or copied. Compressed shards
  (``.tar.gz``) are read streaming and their image bytes kept in memory.
* ``parquet`` — Hugging Face datasets style: the image column holds a ``{"bytes", "path"}``
  struct, raw bytes or a path (resolved against ``image_root``, else the parquet's folder);
  the caption column is ``caption_column``. Read batch by batch.
* ``folder`` — a folder of images with a ``metadata.csv`` / ``metadata.jsonl`` (or the one
  ``.csv`` / ``.jsonl`` there, or that file given as the path) of ``file_name, caption``
  (the Hugging Face ``imagefolder`` layout).

Every input pair becomes one row, keyed by the input's own key (WebDataset ``__key__``, the
parquet ``key_column`` — default ``key`` or ``id`` when present, else the row number — or the
file name), with ``source`` the file it came from. A pair the reader cannot form (no image
member, a caption that is not UTF-8, a metadata line that is not JSON) is still a row, with
``input_reason`` saying why, so it gets a decision like every other. A layout that cannot be
read at all (a missing shard, a missing required column) is a
:class:`~datarecipes.io.errors.SourceError` naming the file and the column. The catalog reads
it through :class:`datarecipes.io.pairs.PairSourceDataset`.
"""

from __future__ import annotations

import csv
import glob
import io
import json
import logging
import os
import re
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from datarecipes.filtering.inputs import (
    CAPTION_COLUMN,
    ID_COLUMN,
    IMAGE_BYTES_COLUMN,
    IMAGE_COLUMN,
    IMAGE_EXT_COLUMN,
    IMAGE_OFFSET_COLUMN,
    IMAGE_SIZE_COLUMN,
    INPUT_REASON_COLUMN,
    KEY_COLUMN,
    SOURCE_COLUMN,
    decode_caption,
)
from datarecipes.io.errors import SourceError
from datarecipes.io.paths import resolve_image_path

logger = logging.getLogger(__name__)

#: Path value meaning "no source given: the recipe's built-in world". URL-shaped, so Kedro
#: does not turn it into a path under the project as it does with relative ``path`` values.
BUILTIN = "builtin://filtering_world"
Format = Literal["auto", "webdataset", "parquet", "folder"]
FORMATS: tuple[str, ...] = ("auto", "webdataset", "parquet", "folder")
IMAGE_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp")
#: Columns of the table every reader returns (the pair table the recipe scores).
SOURCE_COLUMNS: tuple[str, ...] = (
    ID_COLUMN, KEY_COLUMN, SOURCE_COLUMN, IMAGE_COLUMN, IMAGE_OFFSET_COLUMN, IMAGE_SIZE_COLUMN,
    IMAGE_BYTES_COLUMN, IMAGE_EXT_COLUMN, CAPTION_COLUMN, INPUT_REASON_COLUMN,
)
_METADATA_NAMES = ("metadata.csv", "metadata.jsonl")


@dataclass(frozen=True)
class PairSource:
    """What the source dataset loads: the built-in world (``pairs is None``) or a user's pairs."""

    #: The path as given (:data:`BUILTIN` for the world).
    origin: str = BUILTIN
    #: The layout read (``webdataset``, ``parquet``, ``folder``), None for the world.
    format: str | None = None
    #: One row per input pair (columns :data:`SOURCE_COLUMNS`), None for the world.
    pairs: pd.DataFrame | None = None
    #: Files and folders the source covers: nothing may be written under them.
    roots: tuple[str, ...] = field(default_factory=tuple)

    @property
    def builtin(self) -> bool:
        return self.pairs is None


# --- paths -------------------------------------------------------------------------------

def expand_paths(pattern: str) -> list[str]:
    """A path, brace pattern (``{00000..00009}``, ``{a,b}``) or glob → existing paths, sorted
    within each brace alternative; a path that does not exist is an error naming it."""
    from braceexpand import braceexpand

    out: list[str] = []
    for item in braceexpand(pattern):
        if any(ch in item for ch in "*?["):
            matches = sorted(glob.glob(item))
            if not matches:
                raise SourceError(f"{item}: no file matches this pattern")
            out.extend(matches)
        elif not os.path.exists(item):
            raise SourceError(f"{item}: no such file or folder (from source {pattern!r})")
        else:
            out.append(item)
    return out


def detect_format(paths: Sequence[str]) -> str:
    """The layout of ``paths``: tar shards, parquet files, or an image folder."""
    first = Path(paths[0])
    if first.is_dir():
        names = {p.name for p in first.iterdir()}
        if any(n.endswith((".tar", ".tar.gz", ".tgz")) for n in names):
            return "webdataset"
        if any(n.endswith(".parquet") for n in names):
            return "parquet"
        return "folder"
    name = first.name.lower()
    if name.endswith((".tar", ".tar.gz", ".tgz")):
        return "webdataset"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".jsonl")):
        return "folder"
    raise SourceError(
        f"{first}: cannot tell the source format from the name; name it with "
        f"filtering_source_format=webdataset|parquet|folder"
    )


def _files_under(paths: Sequence[str], suffixes: tuple[str, ...]) -> list[str]:
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = sorted(str(p) for p in Path(path).iterdir() if p.name.endswith(suffixes))
            if not found:
                raise SourceError(f"{path}: no {'/'.join(suffixes)} file in this folder")
            files.extend(found)
        else:
            files.append(path)
    return files


def _row(image_id: str, key: Any, source: str, *, path: str | None = None, offset: int = -1,
         size: int = -1, data: bytes | None = None, ext: str | None = None,
         caption: str | None = None, reason: str = "") -> dict[str, Any]:
    return {ID_COLUMN: image_id, KEY_COLUMN: str(key), SOURCE_COLUMN: source,
            IMAGE_COLUMN: path, IMAGE_OFFSET_COLUMN: offset, IMAGE_SIZE_COLUMN: size,
            IMAGE_BYTES_COLUMN: data, IMAGE_EXT_COLUMN: ext, CAPTION_COLUMN: caption,
            INPUT_REASON_COLUMN: reason}


def _caption_from(raw: Any) -> tuple[str | None, str]:
    """Decoded caption text or (None, reason); non-UTF-8 bytes never reach the tables."""
    return decode_caption(raw)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=list(SOURCE_COLUMNS))
    table[IMAGE_OFFSET_COLUMN] = table[IMAGE_OFFSET_COLUMN].astype("int64")
    table[IMAGE_SIZE_COLUMN] = table[IMAGE_SIZE_COLUMN].astype("int64")
    # Keys repeat across shards of separate downloads: the internal id stays unique, the
    # decision table keeps the input's own key beside its source file.
    duplicated = table[ID_COLUMN].duplicated(keep=False)
    if duplicated.any():
        table.loc[duplicated, ID_COLUMN] = [
            f"{Path(s).name}/{k}" for s, k in zip(table.loc[duplicated, SOURCE_COLUMN],
                                                  table.loc[duplicated, KEY_COLUMN], strict=True)
        ]
        again = table[ID_COLUMN].duplicated(keep=False)
        table.loc[again, ID_COLUMN] = [
            f"{i}#{n}" for n, i in enumerate(table.loc[again, ID_COLUMN])
        ]
    return table


# --- WebDataset ----------------------------------------------------------------------------

_KEY_EXT = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")  # webdataset's base_plus_ext


class _DamagedShard(Exception):
    pass


def _tar_members(path: str) -> Iterator[tuple[str, str, tarfile.TarInfo, tarfile.TarFile]]:
    """(key, extension, member, tar) in file order; the tar is read header by header."""
    compressed = path.endswith((".gz", ".tgz"))
    try:
        tar = tarfile.open(path, mode="r|*" if compressed else "r:")
    except (tarfile.TarError, OSError) as err:
        raise SourceError(f"{path}: not a readable tar shard: {err}") from err
    last = "the first member"
    with tar:
        try:
            for member in tar:
                last = member.name
                if not member.isfile():
                    continue
                match = _KEY_EXT.match(member.name)
                if match is None or os.path.basename(member.name).startswith(("__", ".")):
                    continue
                yield match.group(1), match.group(2).lower(), member, tar
        except tarfile.TarError as err:
            # A download killed mid-shard: the members before the damage are still pairs.
            raise _DamagedShard(f"tar shard is damaged after {last}: {err}; the members "
                                f"after it cannot be read") from err


def read_webdataset(shards: Sequence[str]) -> pd.DataFrame:
    """One row per key of every shard (img2dataset layout), images referenced in place."""
    rows: list[dict[str, Any]] = []
    for shard in shards:
        compressed = shard.endswith((".gz", ".tgz"))
        samples: dict[str, dict[str, Any]] = {}
        damage = ""
        try:
            for key, ext, member, tar in _tar_members(shard):
                sample = samples.setdefault(key, {})
                if ext in IMAGE_EXTENSIONS and "image" not in sample:
                    sample["image"] = (member.offset_data, member.size, ext)
                    if compressed:  # no offsets into a compressed stream: keep the bytes
                        sample["data"] = tar.extractfile(member).read()
                elif ext in ("txt", "json"):
                    sample[ext] = tar.extractfile(member).read()
        except (_DamagedShard, tarfile.TarError, EOFError, OSError) as err:
            if isinstance(err, OSError) and not samples:
                raise SourceError(f"{shard}: not a readable tar shard: {err}") from err
            damage = str(err)
            logger.warning("%s: %s", shard, damage)
        for key, sample in samples.items():
            rows.append(_webdataset_row(shard, key, sample, compressed))
        if damage:  # one decision row stands for what could not be read
            name = f"{Path(shard).name}#damaged"
            rows.append(_row(name, name, shard, reason=f"damaged shard: {damage}"))
    return _frame(rows)


def _webdataset_row(shard: str, key: str, sample: dict[str, Any], compressed: bool
                    ) -> dict[str, Any]:
    reason = ""
    caption: str | None = None
    if "txt" in sample:
        caption, reason = _caption_from(sample["txt"])
    elif "json" in sample:
        try:
            meta = json.loads(sample["json"])
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            meta, reason = None, f"{key}.json is not valid JSON: {err}"
        if isinstance(meta, dict):
            caption, reason = _caption_from(meta.get("caption"))
        elif not reason:
            reason = f"{key}.json holds no caption object"
    else:
        reason = "no caption (.txt or .json) in the shard"
    if "image" not in sample:
        reason = reason or f"no image ({'|'.join(IMAGE_EXTENSIONS)}) in the shard"
        return _row(key, key, shard, caption=caption, reason=reason)
    offset, size, ext = sample["image"]
    if compressed:
        return _row(key, key, shard, data=sample["data"], ext=ext, caption=caption,
                    reason=reason)
    return _row(key, key, shard, path=os.path.abspath(shard), offset=offset, size=size,
                ext=ext, caption=caption, reason=reason)


# --- parquet -------------------------------------------------------------------------------

def read_parquet(files: Sequence[str], *, caption_column: str, image_column: str = "image",
                 key_column: str | None = None, image_root: str | None = None,
                 batch_rows: int = 1024) -> pd.DataFrame:
    """One row per parquet row; images as bytes, ``{"bytes", "path"}`` structs or paths."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for file in files:
        try:
            parquet = pq.ParquetFile(file)
        except Exception as err:  # noqa: BLE001 - pyarrow raises several types
            raise SourceError(f"{file}: not a readable parquet file: {err}") from err
        names = parquet.schema_arrow.names
        for role, column, hint in (("caption", caption_column, "filtering_caption_column"),
                                   ("image", image_column, "filtering_image_column")):
            if column not in names:
                raise SourceError(f"{file}: no {role} column {column!r} (columns: {names}); "
                                   f"name it with {hint}=<column>")
        key = key_column or next((c for c in ("key", "id") if c in names), None)
        if key_column is not None and key_column not in names:
            raise SourceError(f"{file}: no key column {key_column!r} (columns: {names})")
        root = Path(image_root) if image_root else Path(file).parent
        columns = [c for c in dict.fromkeys([image_column, caption_column, key]) if c]
        where = Path(file).name if len(files) > 1 else None
        index = 0
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
            for record in batch.to_pylist():
                own = record[key] if key else (f"{where}:{index}" if where else index)
                rows.append(_parquet_row(file, own, record[image_column],
                                         record[caption_column], root))
                index += 1
    return _frame(rows)


def _parquet_row(file: str, key: Any, image: Any, raw_caption: Any, root: Path
                 ) -> dict[str, Any]:
    caption, reason = _caption_from(raw_caption)
    data: bytes | None = None
    path: str | None = None
    if isinstance(image, dict):
        data, path = image.get("bytes"), image.get("path")
    elif isinstance(image, (bytes, bytearray)):
        data = bytes(image)
    elif isinstance(image, str):
        path = image
    elif image is not None:
        reason = reason or f"image cell is a {type(image).__name__}, not bytes or a path"
    ext = Path(path).suffix.lstrip(".").lower() if path else None
    if data:
        return _row(str(key), key, file, data=data, ext=ext or _sniff_ext(data),
                    caption=caption, reason=reason)
    if path:
        return _row(str(key), key, file, path=resolve_image_path(path, root), ext=ext,
                    caption=caption, reason=reason)
    return _row(str(key), key, file, caption=caption, reason=reason or "no image in the row")


def _sniff_ext(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "jpg"


# --- image folder --------------------------------------------------------------------------

def _metadata_file(path: str, metadata: str | None) -> tuple[Path, Path]:
    """(metadata file, image folder) for a folder source."""
    given = Path(path)
    if given.is_file():
        return given, given.parent
    if metadata:
        file = given / metadata
        if not file.is_file():
            raise SourceError(f"{file}: no such metadata file")
        return file, given
    for name in _METADATA_NAMES:
        if (given / name).is_file():
            return given / name, given
    found = sorted(p for p in given.iterdir() if p.suffix in (".csv", ".jsonl"))
    if len(found) == 1:
        return found[0], given
    raise SourceError(
        f"{given}: needs a metadata.csv or metadata.jsonl of file_name, caption "
        f"(found {[p.name for p in found] or 'none'})"
    )


def read_folder(path: str, *, caption_column: str, metadata: str | None = None
                ) -> pd.DataFrame:
    """One row per metadata line: the image ``file_name`` (under the folder) and its caption."""
    file, folder = _metadata_file(path, metadata)
    raw = file.read_bytes()
    if file.suffix == ".csv":
        records = _csv_records(file, raw, caption_column)
    else:
        records = _jsonl_records(file, raw, caption_column)
    rows: list[dict[str, Any]] = []
    for line, record, reason in records:
        name = record.get("file_name") if record else None
        key = name if isinstance(name, str) and name else f"line {line}"
        caption, caption_reason = _caption_from(record.get(caption_column) if record else None)
        if reason or not isinstance(name, str) or not name:
            rows.append(_row(key, key, str(file), caption=caption,
                             reason=reason or f"{file.name} line {line}: no file_name"))
            continue
        image = folder / name
        rows.append(_row(name, name, str(file), path=str(image.resolve()),
                         ext=image.suffix.lstrip(".").lower() or None, caption=caption,
                         reason=caption_reason))
    return _frame(rows)


def _require(file: Path, columns: Sequence[str], caption_column: str) -> None:
    for column, hint in (("file_name", ""), (caption_column, "; name it with "
                                             "filtering_caption_column=<column>")):
        if column not in columns:
            raise SourceError(f"{file}: no column {column!r} (columns: {list(columns)}){hint}")


def _csv_records(file: Path, raw: bytes, caption_column: str
                 ) -> list[tuple[int, dict[str, Any] | None, str]]:
    # surrogateescape keeps undecodable bytes, so one bad caption is one decision, not a
    # failed file; decode_caption reports it.
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    _require(file, reader.fieldnames or [], caption_column)
    return [(n + 2, record, "") for n, record in enumerate(reader)]


def _jsonl_records(file: Path, raw: bytes, caption_column: str
                   ) -> list[tuple[int, dict[str, Any] | None, str]]:
    out: list[tuple[int, dict[str, Any] | None, str]] = []
    seen: set[str] = set()
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8", errors="surrogateescape"))
        except json.JSONDecodeError as err:
            out.append((n, None, f"{file.name} line {n} is not valid JSON: {err}"))
            continue
        if not isinstance(record, dict):
            out.append((n, None, f"{file.name} line {n} is not a JSON object"))
            continue
        seen.update(record)
        out.append((n, record, ""))
    if out and seen:
        _require(file, sorted(seen), caption_column)
    return out


# --- reading a source ---------------------------------------------------------------------------

def read_source(path: str, *, format: str = "auto", caption_column: str | None = None,
                image_column: str = "image", key_column: str | None = None,
                image_root: str | None = None, metadata: str | None = None) -> PairSource:
    """Read the pairs at ``path`` (see the module docstring)."""
    if format not in FORMATS:
        raise SourceError(f"{path}: format must be one of {list(FORMATS)}, got {format!r}")
    paths = expand_paths(path)
    kind = detect_format(paths) if format == "auto" else format
    if kind == "webdataset":
        shards = _files_under(paths, (".tar", ".tar.gz", ".tgz"))
        pairs = read_webdataset(shards)
        roots = tuple(sorted({os.path.abspath(os.path.dirname(s)) for s in shards}))
    elif kind == "parquet":
        files = _files_under(paths, (".parquet",))
        pairs = read_parquet(files, caption_column=caption_column or "caption",
                             image_column=image_column, key_column=key_column,
                             image_root=image_root)
        roots = tuple(sorted({os.path.abspath(os.path.dirname(f)) for f in files}
                             | ({os.path.abspath(image_root)} if image_root else set())))
    else:
        if len(paths) != 1:
            raise SourceError(f"{path}: a folder source is one folder, got {len(paths)} paths")
        pairs = read_folder(paths[0], caption_column=caption_column or "caption",
                            metadata=metadata)
        folder = paths[0] if os.path.isdir(paths[0]) else os.path.dirname(paths[0])
        roots = (os.path.abspath(folder),)
    if len(pairs) == 0:
        raise SourceError(f"{path}: the source holds no pairs")
    logger.info("filtering source %s (%s): %d pairs, %d already unusable", path, kind,
                len(pairs), int((pairs[INPUT_REASON_COLUMN] != "").sum()))
    return PairSource(origin=path, format=kind, pairs=pairs, roots=roots)
