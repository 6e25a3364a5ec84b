"""Batched generation: how MCTS, MLLM scoring, evaluation and the tabular LM query a model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from datarecipes.models.conversations import (
    Conversation,
    ImageLike,
    count_image_blocks,
    load_image,
    with_image_blocks,
)
from datarecipes.models.factory import LoadedModel


def render_prompts(
    loaded: LoadedModel, batch: Sequence[Conversation], n_images: Sequence[int]
) -> list[str]:
    """Chat-template each conversation for generation.

    A conversation whose last turn is the assistant's is *continued* (its partial answer is the
    prefix, as MCTS needs for step-by-step rollouts); otherwise the generation prompt is added.
    """
    texts = []
    for conversation, n in zip(batch, n_images, strict=True):
        if not conversation:
            raise ValueError("cannot generate from an empty conversation")
        messages = with_image_blocks(conversation, n) if loaded.kind == "vlm" else conversation
        if loaded.kind == "lm" and count_image_blocks(conversation):
            raise ValueError(f"model {loaded.path!r} is a text LM but the conversation has images")
        continue_final = messages[-1]["role"] == "assistant"
        texts.append(
            loaded.processor.apply_chat_template(
                messages,
                tokenize=False,
                add_generation_prompt=not continue_final,
                continue_final_message=continue_final,
            )
        )
    return texts


@torch.no_grad()
def generate(
    loaded: LoadedModel,
    batch: Sequence[Conversation],
    images: Sequence[ImageLike | Sequence[ImageLike] | None] | None = None,
    *,
    max_new_tokens: int = 256,
    temperature: float = 0.0,
    top_p: float = 1.0,
    num_return_sequences: int = 1,
    stop_strings: Sequence[str] | None = None,
    seed: int | None = None,
    batch_size: int | None = None,
) -> list[list[str]]:
    """Generate ``num_return_sequences`` completions for each conversation of ``batch``.

    ``images[i]`` is the image (or list of images, paths or PIL) of conversation ``i``, or None.
    Greedy when ``temperature`` is 0. A completion that hits one of ``stop_strings`` ends right
    after it (the stop string is kept, so a caller can tell a stopped step from a cut-off one).
    ``batch_size`` splits the batch into chunks (default: one chunk). Returns one list of
    strings per conversation, special tokens removed.
    """
    if images is not None and len(images) != len(batch):
        raise ValueError(f"got {len(images)} image entries for {len(batch)} conversations")
    if temperature < 0 or not 0 < top_p <= 1 or num_return_sequences < 1:
        raise ValueError(
            f"need temperature >= 0, 0 < top_p <= 1, num_return_sequences >= 1; got "
            f"{temperature}, {top_p}, {num_return_sequences}"
        )
    if seed is not None:
        torch.manual_seed(seed)
    size = batch_size or max(len(batch), 1)
    results: list[list[str]] = []
    for start in range(0, len(batch), size):
        chunk = batch[start : start + size]
        chunk_images = images[start : start + size] if images is not None else [None] * len(chunk)
        results.extend(
            _generate_chunk(
                loaded, chunk, chunk_images, max_new_tokens, temperature, top_p,
                num_return_sequences, stop_strings,
            )
        )
    return results


def _image_lists(entries: Sequence[Any]) -> list[list[Any]]:
    lists = []
    for entry in entries:
        if entry is None:
            lists.append([])
        elif isinstance(entry, (list, tuple)):
            lists.append([load_image(e) for e in entry])
        else:
            lists.append([load_image(entry)])
    return lists


def _generate_chunk(
    loaded: LoadedModel,
    batch: Sequence[Conversation],
    images: Sequence[Any],
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    num_return_sequences: int,
    stop_strings: Sequence[str] | None,
) -> list[list[str]]:
    image_lists = _image_lists(images)
    texts = render_prompts(loaded, batch, [len(x) for x in image_lists])
    tokenizer = loaded.tokenizer
    encode_kwargs: dict[str, Any] = dict(
        text=texts, padding=True, padding_side="left", return_tensors="pt",
        add_special_tokens=False,
    )
    flat_images = [img for imgs in image_lists for img in imgs]
    if loaded.kind == "vlm" and flat_images:
        encode_kwargs["images"] = flat_images
    inputs = loaded.processor(**encode_kwargs).to(loaded.model.device)
    sampling: dict[str, Any] = (
        {"do_sample": True, "temperature": temperature, "top_p": top_p}
        if temperature > 0
        else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
    )
    output = loaded.model.generate(
        **inputs,
        max_new_tokens=max_new_tokens,
        num_return_sequences=num_return_sequences,
        stop_strings=list(stop_strings) if stop_strings else None,
        tokenizer=tokenizer if stop_strings else None,
        pad_token_id=tokenizer.pad_token_id,
        **sampling,
    )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    decoded = [_cut_at_stop(text, stop_strings) for text in decoded]
    k = num_return_sequences
    return [decoded[i * k : (i + 1) * k] for i in range(len(batch))]


def _cut_at_stop(text: str, stop_strings: Sequence[str] | None) -> str:
    if not stop_strings:
        return text
    ends = [text.find(s) + len(s) for s in stop_strings if s in text]
    return text[: min(ends)] if ends else text
