"""vLLM as the generation engine: the same prompts and contracts as the Hugging Face path.

:class:`VllmEngine` implements both generation interfaces of the project:

* ``generate(conversations, images, ...)`` — the contract of
  :func:`datarecipes.models.generation.generate` (MLLM scoring, evaluation, tabular LM);
* ``generate_steps(requests, n, ...)`` — the MCTS :class:`~datarecipes.mcts.policy.Policy`.

Prompts are rendered by the checkpoint's own chat template through the same functions as the
HF path (``render_prompts`` / ``render_prompt``), so switching ``generation.engine`` changes
the engine, not the prompts. Images go in as ``{"prompt": text, "multi_modal_data": {"image":
pil}}``. Automatic prefix caching (``enable_prefix_caching``) lets every expansion and rollout
of one question reuse the KV blocks of the shared instruction + question + image prefix —
the role :class:`~datarecipes.mcts.decoding.PrefixCachedDecoder` plays on the HF path.

Determinism: every request carries its own ``SamplingParams.seed`` (MCTS: the request's
``StepRequest.seed``; ``generate``: derived from the call's seed, the prompt and its occurrence
in the call), so a request's samples do not depend on which other requests share the batch.

``vllm`` is imported lazily (GPU machines only); tests inject a fake ``llm`` and
``sampling_params`` that honour ``vllm.LLM.generate``'s interface.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from datarecipes.mcts.prompts import STEP_DELIMITER
from datarecipes.models.conversations import Conversation, ImageLike, load_image
from datarecipes.models.generation import render_prompts

if TYPE_CHECKING:
    from datarecipes.engines import GenerationParams
    from datarecipes.mcts.policy import Generation, StepRequest
    from datarecipes.models.spec import ModelParams

#: ``generation.engine`` → nothing extra for ``hf``; these ``GRPOConfig`` fields for ``vllm``.
GRPO_VLLM_FIELDS = (
    "use_vllm", "vllm_mode", "vllm_gpu_memory_utilization", "vllm_tensor_parallel_size",
    "vllm_max_model_length", "vllm_enable_sleep_mode",
)


class EngineError(RuntimeError):
    """The engine returned something that cannot be matched to the requests sent."""


@dataclass(frozen=True)
class _TemplateSource:
    """What ``render_prompts`` reads of a ``LoadedModel``: the processor, its kind, its path."""

    processor: Any
    kind: Literal["vlm", "lm"]
    path: str


def vllm_engine_kwargs(spec: ModelParams, path: str, kind: str, params: GenerationParams
                       ) -> dict[str, Any]:
    """Keyword arguments of ``vllm.LLM`` for model ``spec`` (loaded from ``path``)."""
    kwargs: dict[str, Any] = {
        "model": path,
        "tokenizer": path,
        "dtype": spec.dtype,  # vLLM takes the same names: auto, float32, bfloat16, float16
        "trust_remote_code": spec.trust_remote_code,
        "seed": params.seed,
        "enable_prefix_caching": params.enable_prefix_caching,
        "gpu_memory_utilization": params.gpu_memory_utilization,
        "tensor_parallel_size": params.tensor_parallel_size,
        "max_num_seqs": params.max_num_seqs,
        "enforce_eager": params.enforce_eager,
    }
    if params.max_model_len is not None:
        kwargs["max_model_len"] = params.max_model_len
    if "revision" in spec.extra_from_pretrained:
        kwargs["revision"] = spec.extra_from_pretrained["revision"]
    if kind == "vlm":
        kwargs["limit_mm_per_prompt"] = {"image": params.max_images_per_prompt}
        pixels = {k: getattr(spec, k) for k in ("min_pixels", "max_pixels") if getattr(spec, k)}
        if pixels:  # the same resolution bounds the HF processor applies (Qwen2-VL names)
            kwargs["mm_processor_kwargs"] = pixels
    return kwargs


def grpo_vllm_kwargs(params: GenerationParams) -> dict[str, Any]:
    """``trl.GRPOConfig`` fields that make GRPO roll out with vLLM (empty for ``engine: hf``).

    ``colocate`` runs vLLM inside each training process on the training GPUs (no separate
    server); TRL syncs the policy's weights into it before each generation step.
    """
    if params.engine != "vllm":
        return {}
    kwargs: dict[str, Any] = {
        "use_vllm": True,
        "vllm_mode": "colocate",
        "vllm_gpu_memory_utilization": params.grpo_gpu_memory_utilization,
        "vllm_tensor_parallel_size": params.tensor_parallel_size,
        "vllm_enable_sleep_mode": params.grpo_sleep_mode,
    }
    if params.max_model_len is not None:
        kwargs["vllm_max_model_length"] = params.max_model_len
    return kwargs


def _vllm_sampling_params(**kwargs: Any) -> Any:
    from vllm import SamplingParams

    return SamplingParams(**kwargs)


class VllmEngine:
    """A ``vllm.LLM`` (or anything with its ``generate``) behind the project's two interfaces.

    ``llm.generate(prompts, sampling_params, use_tqdm=...)`` must return one result per prompt,
    in order, each with ``.outputs[i].text`` and ``.outputs[i].token_ids`` (and, if present,
    ``.prompt`` and ``.outputs[i].index``, which are checked / used to order the samples).
    """

    def __init__(
        self,
        llm: Any,
        processor: Any,
        *,
        kind: Literal["vlm", "lm"] | None = None,
        path: str = "",
        sampling_params: Callable[..., Any] | None = None,
        use_tqdm: bool = False,
    ) -> None:
        self.llm = llm
        self.processor = processor
        self.kind = kind or ("vlm" if hasattr(processor, "image_processor") else "lm")
        self.path = path
        self._sampling_params = sampling_params or _vllm_sampling_params
        self.use_tqdm = use_tqdm

    @classmethod
    def from_spec(cls, spec: ModelParams, params: GenerationParams) -> VllmEngine:
        """Start vLLM on the checkpoint of ``spec`` (hub id, directory or preset)."""
        try:
            from vllm import LLM
        except ImportError as err:
            raise ImportError(
                "generation.engine is 'vllm' but the vllm package is not installed here "
                "(GPU machines: pip install vllm; CPU runs: set generation.engine: hf)"
            ) from err

        from datarecipes.models.factory import load_processor

        processor, kind, path = load_processor(spec)
        llm = LLM(**vllm_engine_kwargs(spec, path, kind, params))
        return cls(llm, processor, kind=kind, path=path)

    # -- models.generation.generate's contract ------------------------------------------------
    def generate(
        self,
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
        """``num_return_sequences`` completions per conversation, as ``models.generate``.

        ``batch_size`` is accepted for signature parity and ignored: vLLM schedules its own
        batches (``max_num_seqs``).
        """
        from datarecipes.mcts.policy import derive_seed

        if images is not None and len(images) != len(batch):
            raise ValueError(f"got {len(images)} image entries for {len(batch)} conversations")
        _check_sampling(temperature, top_p, num_return_sequences)
        image_lists = [_image_list(images[i] if images is not None else None)
                       for i in range(len(batch))]
        source = _TemplateSource(self.processor, self.kind, self.path)
        texts = render_prompts(source, batch, [len(x) for x in image_lists])  # type: ignore[arg-type]
        seen: Counter[str] = Counter()
        seeds: list[int | None] = []
        for text in texts:
            # Seeded by content, not position: a prompt's samples do not depend on its
            # neighbours; repeats of one prompt in a call get distinct seeds.
            seeds.append(None if seed is None else derive_seed(seed, text, seen[text]))
            seen[text] += 1
        rows = self._run(texts, image_lists, seeds, num_return_sequences, temperature, top_p,
                         max_new_tokens, list(stop_strings) if stop_strings else None)
        return [[text for text, _ in row] for row in rows]

    # -- the MCTS Policy protocol ---------------------------------------------------------------
    def generate_steps(
        self,
        requests: Sequence[StepRequest],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: str | None = STEP_DELIMITER,
        seed: int = 0,
    ) -> list[list[Generation]]:
        """``n`` continuations per request, cut just after ``stop`` (kept), per-request seeds.

        As on the HF text path, each request is sampled from its own ``StepRequest.seed``;
        the call's ``seed`` is for backends that cannot seed per request and is unused here.
        """
        from datarecipes.mcts.policy import Generation
        from datarecipes.mcts.prompts import render_prompt

        if not requests:
            return []
        _check_sampling(temperature, top_p, n)
        for req in requests:
            if req.image is not None and self.kind != "vlm":
                raise ValueError(
                    f"sample {req.sample_id}: has an image but the engine's model "
                    f"({self.path or 'text LM'}) is text-only"
                )
        texts = [render_prompt(self.processor, r.user_text, r.steps, r.image is not None)
                 for r in requests]
        image_lists = [_image_list(r.image) for r in requests]
        rows = self._run(texts, image_lists, [r.seed for r in requests], n, temperature, top_p,
                         max_new_tokens, [stop] if stop else None)
        return [[Generation(text, n_tokens) for text, n_tokens in row] for row in rows]

    # -- shared ---------------------------------------------------------------------------------
    def _run(
        self,
        texts: Sequence[str],
        image_lists: Sequence[list[Any]],
        seeds: Sequence[int | None],
        n: int,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: list[str] | None,
    ) -> list[list[tuple[str, int]]]:
        """One ``llm.generate`` call; ``n`` (text, token count) pairs per prompt, in order."""
        greedy = temperature == 0
        # Greedy samples are all the same sequence: ask for one and repeat it (vLLM refuses
        # or wastes compute on n > 1 without sampling).
        n_asked = 1 if greedy else n
        prompts: list[dict[str, Any]] = []
        sampling: list[Any] = []
        for text, imgs, row_seed in zip(texts, image_lists, seeds, strict=True):
            prompt: dict[str, Any] = {"prompt": text}
            if imgs:
                prompt["multi_modal_data"] = {"image": imgs[0] if len(imgs) == 1 else imgs}
            prompts.append(prompt)
            sampling.append(self._sampling_params(
                n=n_asked,
                temperature=0.0 if greedy else temperature,
                top_p=1.0 if greedy else top_p,
                max_tokens=max_new_tokens,
                stop=stop,
                include_stop_str_in_output=True,  # our contract: the stop string is kept
                seed=row_seed,
            ))
        results = list(self.llm.generate(prompts, sampling, use_tqdm=self.use_tqdm))
        if len(results) != len(prompts):
            raise EngineError(f"the engine returned {len(results)} results for {len(prompts)} "
                              "prompts")
        rows: list[list[tuple[str, int]]] = []
        for i, (result, text) in enumerate(zip(results, texts, strict=True)):
            sent = getattr(result, "prompt", None)
            if sent is not None and sent != text:
                raise EngineError(f"result {i} answers another prompt ({str(sent)[:60]!r}…)")
            outputs = sorted(result.outputs, key=lambda o: getattr(o, "index", 0))
            if len(outputs) != n_asked:
                raise EngineError(f"result {i} has {len(outputs)} samples, asked for {n_asked}")
            pairs = [(o.text, len(o.token_ids)) for o in outputs]
            rows.append(pairs * n if greedy else pairs)
        return rows


def _check_sampling(temperature: float, top_p: float, n: int) -> None:
    if temperature < 0 or not 0 < top_p <= 1 or n < 1:
        raise ValueError(
            f"need temperature >= 0, 0 < top_p <= 1, n >= 1; got {temperature}, {top_p}, {n}"
        )


def _image_list(entry: Any) -> list[Any]:
    if entry is None:
        return []
    if isinstance(entry, (list, tuple)):
        return [load_image(e) for e in entry]
    return [load_image(entry)]
