"""Tiny offline presets: real architectures at toy size, built from declarative config files.

A preset (``presets/<name>.json``) names a transformers architecture, its config at toy size,
the image processor settings (VLMs) and the tokenizer corpus. :func:`build_preset` trains the
tokenizer, initialises the model randomly from the seed and writes model + processor with
``save_pretrained`` into ``<cache_dir>/<name>/<digest>``; the digest hashes the preset file, its
corpus and the seed, so editing a preset rebuilds it. From then on the directory is loaded
exactly like a hub checkpoint, through the one factory (:func:`datarecipes.models.load_model`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch
import transformers

from datarecipes.io.atomic import atomic_path
from datarecipes.models.tokenizer import QWEN_CHAT_TEMPLATE, train_bpe_tokenizer

logger = logging.getLogger(__name__)

PRESET_DIR = Path(__file__).parent / "presets"
#: Bump when the builder itself changes in a way that changes the built files.
BUILDER_VERSION = 1
#: Marker written last into a built preset directory.
_DONE = "preset.json"


class PresetError(ValueError):
    """A preset name or preset file is invalid."""


def preset_names() -> list[str]:
    """Names of the shipped presets (``tiny-vlm``, ``tiny-lm``, ...)."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name: str) -> dict[str, Any]:
    """The parsed preset file ``presets/<name>.json``."""
    path = PRESET_DIR / f"{name}.json"
    if not path.is_file():
        raise PresetError(f"unknown preset {name!r}; available presets: {preset_names()}")
    preset = json.loads(path.read_text(encoding="utf-8"))
    for key in ("kind", "architecture", "tokenizer", "config"):
        if key not in preset:
            raise PresetError(f"{path}: missing key {key!r}")
    if preset["kind"] not in ("vlm", "lm"):
        raise PresetError(f"{path}: kind must be 'vlm' or 'lm', got {preset['kind']!r}")
    return preset


def preset_digest(name: str, seed: int) -> str:
    """Hash of everything a built preset depends on: its file, its corpus, the seed."""
    preset = load_preset(name)
    h = hashlib.sha256()
    h.update((PRESET_DIR / f"{name}.json").read_bytes())
    h.update((PRESET_DIR / preset["tokenizer"]["corpus"]).read_bytes())
    h.update(f"seed={seed};builder={BUILDER_VERSION}".encode())
    return h.hexdigest()[:16]


def build_preset(
    name: str, seed: int = 0, cache_dir: str | Path = "data/06_models/presets"
) -> Path:
    """Build preset ``name`` (or reuse the cached build) and return its checkpoint directory."""
    target = Path(cache_dir) / name / preset_digest(name, seed)
    if (target / _DONE).is_file():
        return target
    preset = load_preset(name)
    logger.info("Building preset %s (seed %d) into %s", name, seed, target)
    corpus_path = PRESET_DIR / preset["tokenizer"]["corpus"]
    tokenizer = train_bpe_tokenizer(
        corpus_path.read_text(encoding="utf-8").splitlines(),
        vocab_size=preset["tokenizer"]["vocab_size"],
        model_max_length=preset["tokenizer"]["model_max_length"],
    )
    model = _init_model(preset, tokenizer, seed)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        model.save_pretrained(tmp)
        if preset["kind"] == "vlm":
            _build_processor(preset, tokenizer).save_pretrained(tmp)
        else:
            tokenizer.save_pretrained(tmp)
        (tmp / _DONE).write_text(
            json.dumps({"preset": name, "seed": seed, "definition": preset}, indent=2),
            encoding="utf-8",
        )
    return target


def _token_ids(tokenizer: Any) -> dict[str, int]:
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in tokenizer.all_special_tokens}
    return {
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }


def _init_model(preset: dict[str, Any], tokenizer: Any, seed: int) -> Any:
    cls = getattr(transformers, preset["architecture"], None)
    if cls is None:
        raise PresetError(f"unknown architecture {preset['architecture']!r} in preset")
    special = _token_ids(tokenizer)
    config_kwargs = json.loads(json.dumps(preset["config"]))  # deep copy
    vocab = {"vocab_size": len(tokenizer), **special}
    if preset["kind"] == "vlm":
        config_kwargs["text_config"].update(vocab)
        config_kwargs.update(
            image_token_id=tokenizer.convert_tokens_to_ids("<|image_pad|>"),
            video_token_id=tokenizer.convert_tokens_to_ids("<|video_pad|>"),
            vision_start_token_id=tokenizer.convert_tokens_to_ids("<|vision_start|>"),
            vision_end_token_id=tokenizer.convert_tokens_to_ids("<|vision_end|>"),
        )
    else:
        config_kwargs.update(vocab)
    config = cls.config_class(**config_kwargs)
    # Same seed, same weights: the presets are reproducible artefacts, not downloads.
    torch.manual_seed(seed)
    model = cls(config)
    model.generation_config.eos_token_id = special["eos_token_id"]
    model.generation_config.pad_token_id = special["pad_token_id"]
    model.generation_config.bos_token_id = special["bos_token_id"]
    return model


def _build_processor(preset: dict[str, Any], tokenizer: Any) -> Any:
    settings = dict(preset["image_processor"])
    image_cls = getattr(transformers, settings.pop("class"))
    image_processor = image_cls(**settings)
    video_processor = transformers.Qwen2VLVideoProcessor(
        min_pixels=settings["min_pixels"], max_pixels=settings["max_pixels"]
    )
    processor_cls = getattr(transformers, preset.get("processor", "Qwen2_5_VLProcessor"))
    return processor_cls(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN_CHAT_TEMPLATE,
    )
