"""Label scoring: the tabular LM's answer chosen by likelihood instead of free generation.

MachineLearningLM lets the model *generate* the JSON answer ``[{"id":0,"label":y0},...]`` for a
prompt's test rows (:mod:`datarecipes.tabular.serialize`). A model that is not yet fluent in that
format (a tiny CPU model after a few SFT steps) writes text that does not parse, and then the
evaluation says nothing about what it learned. Here the program writes the answer in exactly the
trained format, row by row, and lets the model choose only the labels: for row ``j`` each
candidate label ``c`` is scored by the log-probability of the text from the label slot up to the
next label slot, ``c}`` + ``,{"id":<next id>,"label":`` (``c}]`` for the last row), given the
prompt and the rows already answered, and the best candidate is written. Scoring through the
closing ``}`` compares labels of different lengths fairly (``1`` is not a prefix win over
``10``), and cutting the text only where a label's digits follow ``":`` keeps every token
boundary where it was during training (a cut at ``}`` would split BPE merges such as ``},{"``).
Row by row, this is the greedy maximisation of the answer's likelihood under the training format,
and the output is the same JSON text a fluent generation would be, so parsing, voting and the
metrics downstream do not change.

Log-probabilities come from :func:`datarecipes.kernels.score_sequences` (backbone hidden states +
chunked LM head, no ``[B, L, V]`` logits), the prompt's keys/values are computed once and reused
for every row and candidate, and the candidates of a row are scored in one batch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache

from datarecipes.kernels import IGNORE_INDEX, score_sequences
from datarecipes.tabular.serialize import OURS, PromptFormatParams

Messages = list[dict[str, str]]

_LABEL_SET = re.compile(r"Label set = \[([^\]]*)\]")
_TEST_SECTION = re.compile(r"\[Test set\](.*?)(?:\n\s*\n|\Z)", re.S)
_TEST_ROW = re.compile(r"^(?:[^\d:\n]*?)(\d+):", re.M)  # "0:..." or the reference's "ID 0:..."


def _user_text(messages: Messages) -> str:
    users = [m["content"] for m in messages if m.get("role") == "user"]
    if not users or not isinstance(users[-1], str):
        raise ValueError("label scoring needs a tabular prompt with a text user message")
    return users[-1]


def prompt_labels(messages: Messages) -> list[int]:
    """The candidate labels: the ``Label set = [...]`` the prompt states (the shots' labels; the
    class-covering shot order makes it every class of the table whenever the shots allow)."""
    found = _LABEL_SET.search(_user_text(messages))
    if found is None:
        raise ValueError("tabular prompt has no 'Label set = [...]' line to take candidates from")
    labels = [int(v) for v in found.group(1).replace(" ", "").split(",") if v]
    if not labels:
        raise ValueError("tabular prompt states an empty label set")
    return labels


def prompt_test_ids(messages: Messages) -> list[int]:
    """The ids of the prompt's test rows (``i:v1,...,vk`` or ``ID i:v1,...`` lines of its
    ``[Test set]``), in order."""
    section = _TEST_SECTION.search(_user_text(messages))
    ids = [int(i) for i in _TEST_ROW.findall(section.group(1))] if section else []
    if not ids:
        raise ValueError("tabular prompt has no '[Test set]' rows ('<id>:<values>') to answer")
    return ids


def _slot(row_id: int, fmt: PromptFormatParams = OURS) -> str:
    if fmt.answer_json == "reference":  # json.dumps' default separators
        return f'{{"id": {row_id}, "label": '
    return f'{{"id":{row_id},"label":'


def _after_label(label: int, next_id: int | None, fmt: PromptFormatParams = OURS) -> str:
    """The trained text from a label to the next label slot (or the end of the answer)."""
    sep = ", " if fmt.answer_json == "reference" else ","
    return f"{label}}}" + ("]" if next_id is None else sep + _slot(next_id, fmt))


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    return int(np.flatnonzero(np.asarray(a[:n]) != np.asarray(b[:n]))[0])


def _crop(cache: DynamicCache, length: int) -> None:
    """Cut ``cache`` back to its first ``length`` tokens (transformers 5 ``crop`` takes the
    negative number of tokens to remove)."""
    extra = cache.get_seq_length() - length
    if extra > 0:
        cache.crop(-extra)


@dataclass(frozen=True)
class ScoredAnswer:
    """A prompt's answer by label scoring."""

    text: str  #: ``[{"id":..,"label":..},...]``, the trained answer format.
    ids: list[int]  #: Test row ids, in prompt order.
    labels: list[int]  #: Chosen label per row.
    candidates: list[int]  #: The labels that were scored.
    #: ``scores[j][k]``: log-probability of candidate ``k``'s text at row ``j``.
    scores: list[list[float]]

    @property
    def probs(self) -> list[list[float]]:
        """Per row, the candidates' softmax-normalised likelihoods, indexed by label value
        (0 for labels that were not candidates): the class probabilities of the AUC."""
        width = max(self.candidates) + 1
        out = []
        for row in self.scores:
            s = np.asarray(row, dtype=np.float64)
            p = np.exp(s - s.max())
            p /= p.sum()
            full = np.zeros(width)
            full[self.candidates] = p
            out.append(full.tolist())
        return out


class _AnswerScorer:
    """Scores the continuations of one prompt's growing answer.

    Every candidate text is tokenised as a whole with the prompt (as the SFT record was), the
    tokens all candidates share are encoded once into a key/value cache, and only the tokens
    after them are scored, so comparing the sums compares full-sequence likelihoods. The
    chosen candidate's keys/values stay in the cache as the next row's prefix."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, prompt: str) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.fixed, self.rest = self._split(prompt)
        self.cache = DynamicCache(config=model.config)
        self.cached: list[int] = []  # the tokens whose keys/values the cache holds

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _split(self, prompt: str) -> tuple[list[int], str]:
        """Tokens of the prompt up to its last special token, and the text after it.

        Tokenizers split special tokens off before the BPE, so the text after the last one
        (``assistant\n`` of the generation prompt) tokenises on its own and the long prompt
        is tokenised once, not once per candidate and row. Checked; else nothing is fixed."""
        specials = [t for t in self.tokenizer.all_special_tokens if t and t in prompt]
        cut = max((prompt.rfind(t) + len(t) for t in specials), default=0)
        fixed, rest = self._encode(prompt[:cut]), prompt[cut:]
        if fixed + self._encode(rest) != self._encode(prompt):
            return [], prompt
        return fixed, rest

    def _hold(self, ids: list[int]) -> None:
        """Make the cache hold exactly ``ids``, encoding only what it does not have yet."""
        keep = _common_prefix(self.cached, ids)
        _crop(self.cache, keep)
        if len(ids) > keep:
            new = torch.tensor([ids[keep:]], device=self.model.device)
            self.model.base_model(input_ids=new, cache=self.cache, use_cache=True)
        self.cached = ids

    def choose(self, answer: str, texts: Sequence[str]) -> tuple[int, list[float]]:
        """Index of the most likely of ``texts`` after ``prompt + answer`` (ties: the first),
        and every text's log-probability."""
        seqs = [self.fixed + self._encode(self.rest + answer + text) for text in texts]
        shared = min(_common_prefix(seqs[0], s) for s in seqs)
        # at least one scored token each, and the last shared token stays out of the cache:
        # its hidden state scores the first token that differs
        shared = min(shared, min(len(s) for s in seqs) - 1)
        self._hold(seqs[0][: shared - 1])
        tails = [s[shared - 1 :] for s in seqs]
        device = self.model.device
        input_ids = torch.zeros((len(tails), max(map(len, tails))), dtype=torch.long)
        mask = torch.zeros_like(input_ids)
        for k, tail in enumerate(tails):  # right-padded: padding follows every scored token
            input_ids[k, : len(tail)] = torch.tensor(tail)
            mask[k, : len(tail)] = 1
        labels = input_ids.masked_fill(mask == 0, IGNORE_INDEX)
        labels[:, 0] = IGNORE_INDEX  # the last shared token is context, not a candidate's
        attention = torch.cat([mask.new_ones((len(tails), shared - 1)), mask], dim=1)
        self.cache.batch_repeat_interleave(len(tails))
        logprobs, _ = score_sequences(
            self.model, input_ids.to(device), attention.to(device), labels.to(device),
            cache=self.cache, compute_entropy=False,
        )
        scores = logprobs.float().sum(dim=1).tolist()
        best = max(range(len(scores)), key=lambda k: (scores[k], -k))
        # keep the chosen row, without its padding: it is the next row's prefix
        self.cache.batch_select_indices(torch.tensor([best], device=device))
        _crop(self.cache, len(seqs[best]))
        self.cached = seqs[best]
        return best, scores


@torch.inference_mode()
def score_answer(
    model: torch.nn.Module,
    tokenizer: Any,
    messages: Messages,
    candidates: Sequence[int] | None = None,
    fmt: PromptFormatParams = OURS,
    forced: Sequence[int | None] | None = None,
) -> ScoredAnswer:
    """Answer one tabular prompt by label scoring (see the module docstring).

    ``messages`` is the prompt without the assistant turn (:func:`serialize.build_messages`);
    ``candidates`` defaults to the prompt's stated label set; ``fmt`` is the answer format the
    model was trained on. Ties go to the earlier candidate. ``forced[j]`` (a label, or None)
    writes that label at row ``j`` instead of the best one, with every candidate still scored:
    the class probabilities of an answer the model *generated* (the reference's AUC reads the
    label log-probs of its generation).
    """
    ids = prompt_test_ids(messages)
    labels_to_try = list(candidates) if candidates is not None else prompt_labels(messages)
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    scorer = _AnswerScorer(model, tokenizer, prompt)
    answer = "[" + _slot(ids[0], fmt)
    chosen: list[int] = []
    scores: list[list[float]] = []
    for j in range(len(ids)):
        next_id = ids[j + 1] if j + 1 < len(ids) else None
        texts = [_after_label(c, next_id, fmt) for c in labels_to_try]
        best, row = scorer.choose(answer, texts)
        if forced is not None and j < len(forced) and forced[j] in labels_to_try:
            best = labels_to_try.index(forced[j])
        chosen.append(labels_to_try[best])
        scores.append(row)
        answer += texts[best]
    return ScoredAnswer(answer, ids, chosen, labels_to_try, scores)


def label_probabilities(
    model: torch.nn.Module, tokenizer: Any, prompts: Sequence[Messages], texts: Sequence[str],
    fmt: PromptFormatParams = OURS,
) -> list[ScoredAnswer]:
    """Per-row class probabilities of generated answers ``texts`` (one teacher-forced pass per
    prompt through the generated labels; rows the answer lacks get the model's best label)."""
    from datarecipes.tabular.lm_predict import parse_predictions

    was_training = model.training
    model.eval()
    try:
        out = []
        for messages, text in zip(prompts, texts):
            ids = prompt_test_ids(messages)
            parsed = parse_predictions(text, ids)
            out.append(score_answer(model, tokenizer, messages, fmt=fmt,
                                    forced=[parsed[i] for i in ids]))
        return out
    finally:
        model.train(was_training)


def score_answers(
    model: torch.nn.Module, tokenizer: Any, prompts: Sequence[Messages],
    fmt: PromptFormatParams = OURS,
) -> list[ScoredAnswer]:
    """Answers of many prompts by label scoring (a ``PredictFn`` for ``evaluate_icl``: each
    has the answer ``text`` and per-row class ``probs`` for the AUC)."""
    was_training = model.training
    model.eval()
    try:
        return [score_answer(model, tokenizer, messages, fmt=fmt) for messages in prompts]
    finally:
        model.train(was_training)
