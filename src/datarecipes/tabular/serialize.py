"""MachineLearningLM's token-efficient many-shot prompt, as chat ``messages``.

Reference: ``src/prior_data/pt_to_csv.py`` and ``src/evaluation/prompt_gen/prompt_utils.py``.
Values are z-scored with the *shots'* statistics (NaN -> the shots' mean), mapped to the
integer ``int(z * 120 + 500)`` and clipped to [0, 999]; each training row is ``v1,...,vk|y``,
each test row ``i:v1,...,vk``; the assistant answers ``[{"id":i,"label":y},...]`` for the whole
batch of test rows at once. Records are ``{"messages": [system, user, assistant], "meta": ...}``
(TRL ``SFTTrainer``'s conversational format).

Where we differ from the reference:
* the upper clip at 999 (the reference only floors at 0, so values past +4.17 sigma print 4
  digits, although its README promises 0-999);
* the user message is written without the reference's stray f-string indentation, and the
  answer JSON is compact (``separators=(",", ":")``): fewer tokens, same information;
* test ids are integers in the example too (the reference's example quotes them as strings).

Each of these is a :class:`PromptFormatParams` choice: ``PromptFormatParams.reference()`` writes the
reference's prompt byte for byte (``ID i:`` rows, its user-message template with the trailing
spaces and straight quotes, sample std ``ddof=1``, no upper clip, ``json.dumps`` answers with
spaces), which ``conf/gpu`` uses because the paper's numbers were measured on those strings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np

from datarecipes.config import ParameterError

SYSTEM_PROMPT = "You are an AI assistant. Your task is supervised classification."
SHOT_COUNTS: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024)


@dataclass(frozen=True)
class PromptFormatParams:
    """How a table becomes prompt text: our compact format, or the reference's byte for byte.

    Reference: ``src/evaluation/prompt_gen/prompt_utils.py`` (``normalize_feature_arrays``,
    ``format_lines``, ``build_user_prompt``, ``build_full_prompt``).
    """

    #: ``ours``: the user message without the reference's stray indentation and trailing
    #: spaces, typographic quotes around the separator, the real feature count on the test
    #: line and an example answer; ``reference``: ``build_user_prompt``'s text exactly.
    template: Literal["ours", "reference"] = "ours"
    #: Text before a test row's id: ``""`` (ours, ``0:...``) or ``"ID "`` (reference).
    test_row_prefix: str = ""
    #: Delta degrees of freedom of the shots' std: 0 (ours) or 1 (the reference's sample std).
    std_ddof: int = 0
    #: ``ours``: codes clipped to 0..999, a column constant over the shots gets std 1;
    #: ``reference``: z clipped to +-1000 and codes only floored at 0 (4-6 digit codes past
    #: +4.17 sigma), std floored at 1e-6 (a constant column's other test values go to 0/120500).
    value_encoding: Literal["ours", "reference"] = "ours"
    #: ``compact``: ``[{"id":0,"label":1}]``; ``reference``: ``json.dumps`` default
    #: separators, ``[{"id": 0, "label": 1}]``.
    answer_json: Literal["compact", "reference"] = "compact"
    #: Write codes as ``500.0``: what the reference prints for a table whose CSV has a float
    #: column (pandas >= 2 keeps float64 through ``.loc[:, cols] = ints``, and ``.values`` of a
    #: float/int frame is float); integer-typed CSVs print ``500``.
    float_codes: bool = False

    def __post_init__(self) -> None:
        # the Literal fields are checked by config.from_params; these are not expressible there
        if self.std_ddof not in (0, 1):
            raise ParameterError(f"prompt.std_ddof must be 0 or 1, got {self.std_ddof}")
        if any(c.isdigit() or c in ":\n" for c in self.test_row_prefix) or \
                not self.test_row_prefix.isascii():
            raise ParameterError("prompt.test_row_prefix must be ASCII without digits, ':' or "
                                 f"newlines, got {self.test_row_prefix!r}")

    @classmethod
    def reference(cls) -> PromptFormatParams:
        """Every choice set to the reference's."""
        return cls(template="reference", test_row_prefix="ID ", std_ddof=1,
                   value_encoding="reference", answer_json="reference")


OURS = PromptFormatParams()


def encode_values(
    x_shots: np.ndarray, x_test: np.ndarray, fmt: PromptFormatParams = OURS
) -> tuple[np.ndarray, np.ndarray]:
    """z-score both blocks with the shots' column statistics, map to integer codes.

    NaN becomes the shots' mean (z = 0, code 500). ``fmt.value_encoding`` ``ours``: a column
    constant over the shots gets std 1 and codes are clipped to 0..999; ``reference``: std is
    floored at 1e-6, z clipped to +-1000, codes floored at 0 only (``normalize_feature_arrays``).
    ``astype`` truncates toward zero exactly like the reference's ``astype(int)``; the lower
    clip at 0 makes truncation and flooring agree.
    """
    x_shots = np.asarray(x_shots, dtype=np.float64)
    x_test = np.asarray(x_test, dtype=np.float64)
    with np.errstate(all="ignore"):
        mean = np.nanmean(x_shots, axis=0) if len(x_shots) else np.zeros(x_shots.shape[1])
        std = (np.nanstd(x_shots, axis=0, ddof=fmt.std_ddof) if len(x_shots)
               else np.ones(x_shots.shape[1]))
    mean = np.where(np.isfinite(mean), mean, 0.0)
    if fmt.value_encoding == "reference":
        std = np.clip(np.where(np.isnan(std), 1.0, std), 1e-6, None)
    else:
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)

    def code(block: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            z = (block - mean) / std
        z = np.where(np.isnan(z), 0.0, z)
        if fmt.value_encoding == "reference":
            return np.clip(np.clip(z, -1000, 1000) * 120.0 + 500.0, 0.0, None).astype(np.int64)
        # upper clip at 999: the reference forgets it (see the module docstring)
        return np.clip(z * 120.0 + 500.0, 0.0, 999.0).astype(np.int16)

    return code(x_shots), code(x_test)


@lru_cache(maxsize=8)
def _digit_table(max_value: int, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """ASCII digits of 0..max_value (+ ``suffix``), left-aligned in a uint8 matrix, and
    their lengths."""
    strings = np.array([f"{i}{suffix}" for i in range(max_value + 1)], dtype="S")
    width = strings.dtype.itemsize
    table = np.frombuffer(strings.tobytes(), dtype=np.uint8).reshape(-1, width)
    return table, np.char.str_len(strings).astype(np.int64)


def _int_columns(
    values: np.ndarray, sep: bytes, suffix: str = ""
) -> tuple[np.ndarray, np.ndarray]:
    """Bytes and keep-mask of ``str(v) + suffix + sep`` for an (n, k) int array, shape
    (n, k*(w+1))."""
    values = np.asarray(values, dtype=np.int64)
    if values.size and values.min() < 0:
        raise ValueError("format_rows: only non-negative integers are serialised")
    top = max(999, int(values.max()) if values.size else 0)
    table, lengths = _digit_table(top, suffix)
    width = table.shape[1]
    n, k = values.shape
    out = np.empty((n, k, width + 1), np.uint8)
    out[:, :, :width] = table[values]
    out[:, :, width] = ord(sep)
    keep = np.empty((n, k, width + 1), bool)
    keep[:, :, :width] = np.arange(width) < lengths[values][:, :, None]
    keep[:, :, width] = True
    return out.reshape(n, -1), keep.reshape(n, -1)


def format_rows(
    codes: np.ndarray, labels: np.ndarray | None = None, ids: np.ndarray | None = None,
    id_prefix: str = "", code_suffix: str = "",
) -> str:
    """Rows ``v1,...,vk|y`` (with labels) or ``<id_prefix>i:v1,...,vk`` (with ids), joined by
    newlines; ``code_suffix`` follows every value (``".0"``: the reference's float codes).

    Vectorised: every digit of every row is gathered from a lookup table into one byte matrix
    and the padding is dropped with one boolean mask, no per-row Python.
    """
    codes = np.asarray(codes)
    n = codes.shape[0]
    if n == 0:
        return ""
    parts, masks = [], []
    if id_prefix and ids is not None:
        prefix = np.frombuffer(id_prefix.encode("ascii"), np.uint8)
        parts.append(np.broadcast_to(prefix, (n, len(prefix))))
        masks.append(np.ones((n, len(prefix)), bool))
    if ids is not None:
        b, m = _int_columns(np.asarray(ids).reshape(n, 1), b":")
        parts.append(b)
        masks.append(m)
    b, m = _int_columns(codes, b",", code_suffix)
    b[:, -1] = ord("|" if labels is not None else "\n")  # the last value's separator
    parts.append(b)
    masks.append(m)
    if labels is not None:
        b, m = _int_columns(np.asarray(labels).reshape(n, 1), b"\n")
        parts.append(b)
        masks.append(m)
    data = np.concatenate(parts, axis=1)
    keep = np.concatenate(masks, axis=1)
    return data[keep].tobytes().decode("ascii")[:-1]


def _reference_user_prompt(
    n_features: int, label_set: list[int], n_train: int, train: str, n_test: int, test: str
) -> str:
    """``prompt_utils.build_user_prompt`` (concat style, no feature descriptions), copied
    character for character: the leading newline, the two trailing spaces after some lines,
    the empty feature-description line, the literal ``N`` and the final newline."""
    return (
        "\n[Data]\n"
        f"• Each sample = {n_features} features + 1 label.  Label set = {label_set}.  \n"
        '• Features in a row are comma-separated.  Features and label are separated by "|".\n'
        "\n"
        "\n"
        "[Training set]  (order of rows does NOT matter)  \n"
        f"{n_train} rows:  \n"
        f"{train}\n"
        "\n"
        "[Test set]  (keep original order!)  \n"
        "Each row = ID, then N features (ID is NOT a feature).  \n"
        f"{n_test} rows:  \n"
        f"{test}\n"
        "\n"
        "[Output requirements]\n"
        "Return **only** a JSON array.\n"
        'Each element: {"id": <ID>, "label": <predicted_label>}\n'
        "\n"
        "Begin when ready. Do not output anything except the JSON array.\n"
    )


def user_prompt(
    train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray,
    fmt: PromptFormatParams = OURS,
) -> str:
    """The user message: ``[Data]``, ``[Training set]``, ``[Test set]``, output requirements."""
    n_features = train_codes.shape[1]
    label_set = sorted(int(v) for v in np.unique(train_labels))
    suffix = ".0" if fmt.float_codes else ""
    train = format_rows(train_codes, labels=train_labels, code_suffix=suffix)
    test = format_rows(test_codes, ids=np.arange(len(test_codes)),
                       id_prefix=fmt.test_row_prefix, code_suffix=suffix)
    if fmt.template == "reference":
        return _reference_user_prompt(n_features, label_set, len(train_codes), train,
                                      len(test_codes), test)
    return (
        "[Data]\n"
        f"• Each sample = {n_features} features + 1 label.  Label set = {label_set}.\n"
        "• Features in a row are comma-separated.  Features and label are separated by “|”.\n"
        "\n"
        "[Training set]  (order of rows does NOT matter)\n"
        f"{len(train_codes)} rows:\n"
        f"{train}\n"
        "\n"
        "[Test set]  (keep original order!)\n"
        f"Each row = ID, then {n_features} features (ID is NOT a feature).\n"
        f"{len(test_codes)} rows:\n"
        f"{test}\n"
        "\n"
        "[Output requirements]\n"
        "Return **only** a JSON array.\n"
        'Each element: {"id": <ID>, "label": <predicted_label>}.\n'
        "\n"
        "Example (for two test cases):\n"
        '[{"id":0,"label":1},{"id":1,"label":0}]\n'
        "\n"
        "Begin when ready. Do not output anything except the JSON array."
    )


def answer_json(labels: Sequence[int], fmt: PromptFormatParams = OURS) -> str:
    """The assistant answer for test rows 0..m-1: ``[{"id":0,"label":y0},...]`` (compact) or
    ``[{"id": 0, "label": y0}, ...]`` (the reference's ``json.dumps``)."""
    items = [{"id": i, "label": int(y)} for i, y in enumerate(labels)]
    if fmt.answer_json == "reference":
        return json.dumps(items, ensure_ascii=False)
    return json.dumps(items, separators=(",", ":"))


def build_messages(
    x_shots: np.ndarray,
    y_shots: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray | None = None,
    column_order: np.ndarray | None = None,
    fmt: PromptFormatParams = OURS,
) -> list[dict[str, str]]:
    """Chat messages for one prompt; the assistant turn only when ``y_test`` is given.

    ``column_order`` shuffles the columns; labels must already be codes 0..n-1; ``fmt``
    chooses our format or the reference's (:class:`PromptFormatParams`).
    """
    x_shots = np.asarray(x_shots, dtype=np.float64)
    x_test = np.asarray(x_test, dtype=np.float64)
    if column_order is not None:
        x_shots, x_test = x_shots[:, column_order], x_test[:, column_order]
    train_codes, test_codes = encode_values(x_shots, x_test, fmt)
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user",
         "content": user_prompt(train_codes, np.asarray(y_shots), test_codes, fmt)},
    ]
    if y_test is not None:
        messages.append({"role": "assistant", "content": answer_json(y_test, fmt)})
    return messages


def shot_counts(max_shots: int, smallest: int = 8) -> list[int]:
    """8, 16, ... doubling up to ``max_shots`` (the reference's 8..1024 grid)."""
    counts, s = [], smallest
    while s <= max_shots:
        counts.append(s)
        s *= 2
    return counts


def record(messages: list[dict[str, str]], **meta: Any) -> dict[str, Any]:
    """An SFT record: the conversation plus JSON-serialisable metadata."""
    return {"messages": messages, "meta": meta}
