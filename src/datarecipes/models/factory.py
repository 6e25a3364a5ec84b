"""The one model factory: a :class:`ModelParams` in, a model with its processor out.

Presets are first built into a local checkpoint directory (see :mod:`.presets`) and then take
the same path as a hub checkpoint or a fine-tuned output: ``AutoModelForImageTextToText`` +
``AutoProcessor`` for VLMs, ``AutoModelForCausalLM`` + ``AutoTokenizer`` for LMs. So a 7B
checkpoint on a GPU and a tiny preset on a CPU go through exactly the same code.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
    PreTrainedModel,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

from datarecipes.models.presets import build_preset
from datarecipes.models.spec import LoraParams, ModelParams

logger = logging.getLogger(__name__)

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class ModelLoadError(ValueError):
    """A checkpoint cannot be loaded: missing path, no chat template, unknown architecture."""


@dataclass
class LoadedModel:
    """A model ready to generate or train, with the processor that feeds it."""

    model: PreTrainedModel
    #: ``ProcessorMixin`` for a VLM (``.tokenizer`` inside), a tokenizer for an LM.
    processor: Any
    kind: Literal["vlm", "lm"]
    #: The directory or hub id the weights came from (a preset's build directory for presets).
    path: str
    spec: ModelParams

    @property
    def tokenizer(self) -> Any:
        """The text tokenizer (the processor's for a VLM)."""
        return self.processor.tokenizer if self.kind == "vlm" else self.processor


def resolve_path(spec: ModelParams) -> str:
    """The directory or hub id ``spec`` loads from; builds the preset first if needed."""
    if spec.preset is not None:
        return str(build_preset(spec.preset, seed=spec.seed, cache_dir=spec.preset_cache_dir))
    assert spec.name_or_path is not None
    path = Path(spec.name_or_path).expanduser()
    if path.is_dir():
        return str(path)
    if _looks_local(spec.name_or_path):
        raise ModelLoadError(f"model checkpoint directory {spec.name_or_path!r} does not exist")
    return spec.name_or_path


def _looks_local(name: str) -> bool:
    # Hub ids are "name" or "org/name"; anything else is meant as a filesystem path.
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or os.sep in name.strip("/")


def _from_pretrained_kwargs(spec: ModelParams, path: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = dict(spec.extra_from_pretrained)
    kwargs["trust_remote_code"] = spec.trust_remote_code
    # A local directory never needs the hub; hub ids honour HF_HUB_OFFLINE themselves.
    kwargs["local_files_only"] = Path(path).is_dir() or os.environ.get("HF_HUB_OFFLINE") == "1"
    return kwargs


def model_kind(config: Any) -> Literal["vlm", "lm"]:
    """``vlm`` for image-text-to-text architectures, else ``lm``."""
    return "vlm" if config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES else "lm"


def load_processor(
    spec: ModelParams, path: str | None = None, kind: Literal["vlm", "lm"] | None = None
) -> tuple[Any, Literal["vlm", "lm"], str]:
    """The processor (VLM) or tokenizer (LM) of ``spec``, its kind and path, without weights:
    what :func:`load_model` and the vLLM engine both feed their model. ``path`` and ``kind``
    skip resolving them again when the caller has."""
    path = path or resolve_path(spec)
    kwargs = _from_pretrained_kwargs(spec, path)
    kind = kind or model_kind(AutoConfig.from_pretrained(path, **kwargs))
    if kind == "vlm":
        processor = AutoProcessor.from_pretrained(path, **kwargs)
        _apply_pixel_bounds(processor, spec)
    else:
        processor = AutoTokenizer.from_pretrained(path, **kwargs)
    tokenizer = processor.tokenizer if kind == "vlm" else processor
    if not (getattr(processor, "chat_template", None) or tokenizer.chat_template):
        raise ModelLoadError(
            f"the processor of {path!r} has no chat template; give a chat (instruct) checkpoint"
        )
    return processor, kind, path


def load_model(spec: ModelParams) -> LoadedModel:
    """Load the model and processor ``spec`` names (hub id, local directory or preset)."""
    path = resolve_path(spec)
    kwargs = _from_pretrained_kwargs(spec, path)
    try:
        config = AutoConfig.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as err:
        raise ModelLoadError(
            f"cannot load a model config from {path!r} (set HF_HUB_OFFLINE=0 and network access "
            f"for hub ids, or give a local checkpoint directory): {err}"
        ) from err
    kind = model_kind(config)
    model_kwargs: dict[str, Any] = dict(kwargs)
    if spec.dtype != "auto":
        model_kwargs["dtype"] = _DTYPES[spec.dtype]
    else:
        model_kwargs["dtype"] = "auto"
    if spec.attn_implementation is not None:
        model_kwargs["attn_implementation"] = spec.attn_implementation
    auto_model = AutoModelForImageTextToText if kind == "vlm" else AutoModelForCausalLM
    model = auto_model.from_pretrained(path, config=config, **model_kwargs)
    processor, _, _ = load_processor(spec, path=path, kind=kind)
    tokenizer = processor.tokenizer if kind == "vlm" else processor
    if tokenizer.pad_token is None:
        # Batched generation and training need padding; EOS is the usual stand-in.
        tokenizer.pad_token = tokenizer.eos_token
    model.to(_device(spec))
    model.eval()
    return LoadedModel(model=model, processor=processor, kind=kind, path=path, spec=spec)


def _device(spec: ModelParams) -> torch.device:
    if spec.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec.device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("model spec asks for device 'cuda' but no GPU is available")
    return torch.device(spec.device)


def _apply_pixel_bounds(processor: Any, spec: ModelParams) -> None:
    if spec.min_pixels is None and spec.max_pixels is None:
        return
    image_processor = processor.image_processor
    size = dict(image_processor.size)
    if spec.min_pixels is not None:
        size["shortest_edge"] = spec.min_pixels
    if spec.max_pixels is not None:
        size["longest_edge"] = spec.max_pixels
    image_processor.size = size


def lora_config(lora: LoraParams | None, kind: Literal["vlm", "lm"]) -> Any:
    """The peft ``LoraConfig`` for ``lora`` (None when the spec trains all weights)."""
    if lora is None:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
