"""Generation engines behind one switch: ``generation: {engine: hf | vllm, ...}``.

``hf`` (the default, and the only one on CPU) is the model factory's ``generate`` and the MCTS
``HFPolicy``; ``vllm`` is :class:`~datarecipes.engines.vllm.VllmEngine` on GPU machines where
``vllm`` is installed. Both are reached through :func:`load_generator` (the
``models.generate`` contract) and :func:`load_step_policy` (the MCTS ``Policy``), so a pipeline
changes engine by configuration only; GRPO's switch is :func:`grpo_vllm_kwargs`.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from datarecipes.config import ParameterError, parameters_section, require
from datarecipes.engines.vllm import VllmEngine, grpo_vllm_kwargs, vllm_engine_kwargs

if TYPE_CHECKING:
    from datarecipes.mcts.policy import Policy
    from datarecipes.models.conversations import Conversation, ImageLike
    from datarecipes.models.factory import LoadedModel
    from datarecipes.models.spec import ModelParams

__all__ = [
    "GenerationParams",
    "check_engine_available",
    "check_grpo_rollouts",
    "TextEngine",
    "HFEngine",
    "VllmEngine",
    "grpo_vllm_kwargs",
    "load_generator",
    "load_step_policy",
    "vllm_engine_kwargs",
]


#: Python package each engine needs (``hf`` is transformers, always installed).
ENGINE_PACKAGES: dict[str, str] = {"vllm": "vllm"}


def check_engine_available(engine: str) -> None:
    """Raise :class:`ParameterError` naming ``generation.engine`` when ``engine``'s package is
    not installed here — at start-up, when the parameters are validated, instead of at the
    first node that generates (hours into a run) or as an out-of-memory error on the fallback.

    A module already imported (``sys.modules``) counts as installed, so a test can stand in a
    fake engine.
    """
    package = ENGINE_PACKAGES.get(engine)
    if package is None or package in sys.modules:
        return
    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ParameterError(
            f"generation.engine is {engine!r} but the {package} package is not installed in "
            f"this environment ({sys.executable}); install it on the GPU machine "
            f"(pip install {package}, docs/scaling.md) or set generation.engine: hf"
        )


def check_grpo_rollouts(params: Any, generation: GenerationParams) -> None:
    """Refuse GRPO rollouts the ``hf`` engine cannot hold, naming ``generation.engine``.

    TRL's transformers path generates one process's whole rollout batch
    (``params.rollouts_per_generation`` completions) in a single ``generate`` call, so its KV
    cache grows with completions x ``max_completion_length``; past
    ``params.hf_max_rollout_tokens`` the run would die of an out-of-memory error at its first
    GRPO step. vLLM pages the KV cache and schedules its own batches, so it has no such bound.
    """
    if generation.engine != "hf":
        return
    rollouts = params.rollouts_per_generation
    tokens = rollouts * params.max_completion_length
    if tokens > params.hf_max_rollout_tokens:
        raise ParameterError(
            f"generation.engine is 'hf', but one GRPO rollout phase is {rollouts} completions "
            f"x {params.max_completion_length} tokens = {tokens:,} tokens in one transformers "
            f"generate call (its KV cache at once), over hf_max_rollout_tokens="
            f"{params.hf_max_rollout_tokens:,}; set generation.engine: vllm (conf/gpu does), or "
            "lower per_device_train_batch_size x steps_per_generation or max_completion_length"
        )


@parameters_section("generation")
@dataclass(frozen=True)
class GenerationParams:
    """The ``generation`` block: which engine generates, and vLLM's settings when it does."""

    #: ``hf``: transformers ``generate`` (CPU or GPU); ``vllm``: vLLM (GPU, ``pip install vllm``).
    engine: Literal["hf", "vllm"] = "hf"
    #: Share KV blocks of common prompt prefixes (question + image across expansions/rollouts).
    enable_prefix_caching: bool = True
    #: Fraction of GPU memory vLLM may take for weights + KV cache (inference pipelines).
    gpu_memory_utilization: float = 0.85
    #: GPUs one model is split across (tensor parallelism).
    tensor_parallel_size: int = 1
    #: Longest prompt + completion in tokens; null = the checkpoint's context length.
    max_model_len: int | None = None
    #: Sequences vLLM decodes at once (its batch size).
    max_num_seqs: int = 256
    #: Images per prompt vLLM reserves room for (VLMs).
    max_images_per_prompt: int = 1
    #: Skip CUDA-graph capture: slower decoding, faster start (smoke tests, short jobs).
    enforce_eager: bool = False
    #: Engine seed (requests carry their own seeds; this seeds anything unseeded).
    seed: int = 0
    #: GRPO colocate mode: GPU memory fraction vLLM takes beside the training process.
    grpo_gpu_memory_utilization: float = 0.3
    #: GRPO colocate mode: offload vLLM's weights/KV cache during the optimizer step.
    grpo_sleep_mode: bool = False

    def __post_init__(self) -> None:
        check_engine_available(self.engine)
        for name in ("gpu_memory_utilization", "grpo_gpu_memory_utilization"):
            value = getattr(self, name)
            require(0 < value <= 1, f"generation.{name} must be in (0, 1], got {value}")
        for name in ("tensor_parallel_size", "max_num_seqs", "max_images_per_prompt"):
            value = getattr(self, name)
            require(value >= 1, f"generation.{name} must be >= 1, got {value}")
        require(
            self.max_model_len is None or self.max_model_len >= 1,
            f"generation.max_model_len must be >= 1 or null, got {self.max_model_len}",
        )


class TextEngine(Protocol):
    """The :func:`datarecipes.models.generation.generate` contract, without the model argument."""

    def generate(
        self,
        batch: Sequence[Conversation],
        images: Sequence[ImageLike | Sequence[ImageLike] | None] | None = None,
        **sampling: Any,
    ) -> list[list[str]]: ...


class HFEngine:
    """A loaded Hugging Face model as a :class:`TextEngine` (the ``hf`` engine)."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded

    def generate(
        self,
        batch: Sequence[Conversation],
        images: Sequence[ImageLike | Sequence[ImageLike] | None] | None = None,
        **sampling: Any,
    ) -> list[list[str]]:
        from datarecipes.models.generation import generate

        return generate(self.loaded, batch, images, **sampling)


def load_generator(spec: ModelParams, params: GenerationParams) -> TextEngine:
    """The model of ``spec`` on the engine ``params.engine`` names."""
    if params.engine == "vllm":
        return VllmEngine.from_spec(spec, params)
    from datarecipes.models.factory import load_model

    return HFEngine(load_model(spec))


def load_step_policy(spec: ModelParams, params: GenerationParams) -> Policy:
    """The MCTS step policy of ``spec`` on the engine ``params.engine`` names."""
    if params.engine == "vllm":
        return VllmEngine.from_spec(spec, params)
    from datarecipes.mcts.policy import HFPolicy
    from datarecipes.models.factory import load_model

    loaded = load_model(spec)
    return HFPolicy(loaded.model, loaded.processor)
