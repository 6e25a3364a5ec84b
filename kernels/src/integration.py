"""Wiring of :func:`token_logprobs_and_entropy` into causal LMs: evaluation scoring and GRPO.

Evaluation / MCTS scoring calls :func:`score_sequences`: it runs the model's backbone for the final
hidden states and scores them with the chunked LM head, never building ``[B, L, V]`` logits.

GRPO: TRL 1.x's ``GRPOTrainer._get_per_token_logps_and_entropies`` already asks the model for
per-token log-probabilities instead of logits, through a patched forward:
``model(**inputs, labels=labels, fused_lm_head=True)`` returning ``.log_probs`` / ``.entropy``
(``trl.trainer.utils.add_fused_lm_head``, installed in ``GRPOTrainer.__init__``). That forward is
the clean hook: it is called *through* the DDP/FSDP/PEFT wrappers, so gradient synchronisation
and adapters keep working, which overriding the trainer method and calling the unwrapped backbone
would break. :func:`install_chunked_lm_head` installs our kernel behind the same contract, and
:class:`ChunkedLogprobsGRPOMixin` does it right after TRL's own patch.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from datarecipes.kernels.logprobs import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_VOCAB_CHUNK_SIZE,
    IGNORE_INDEX,
    token_logprobs_and_entropy,
)

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from transformers import Cache

# Config attributes that change the logits after the LM head; the kernel does not model them.
_UNSUPPORTED_LOGIT_TRANSFORMS = (
    "final_logit_softcapping",
    "logit_scale",
    "output_multiplier",
    "lm_head_multiplier",
    "logits_scaling",
)


def _check_plain_lm_head(model: torch.nn.Module) -> None:
    config = model.config.get_text_config()
    for name in _UNSUPPORTED_LOGIT_TRANSFORMS:
        if getattr(config, name, None) not in (None, 1.0):
            raise NotImplementedError(
                f"{type(model).__name__}: config.{name}={getattr(config, name)!r} transforms the "
                "logits after the LM head, which the chunked kernel does not implement"
            )


def _lm_head_scores(
    model: torch.nn.Module,
    hidden: torch.Tensor,
    targets: torch.Tensor,
    temperature: float,
    compute_entropy: bool,
    chunk_size: int,
    vocab_chunk_size: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    lm_head = model.get_output_embeddings()
    # with device_map the backbone may end on another device than the head
    hidden = hidden.to(lm_head.weight.device)
    return token_logprobs_and_entropy(
        hidden,
        lm_head.weight,
        targets.to(lm_head.weight.device),
        bias=lm_head.bias,
        temperature=temperature,
        chunk_size=chunk_size,
        vocab_chunk_size=vocab_chunk_size,
        compute_entropy=compute_entropy,
    )


def score_sequences(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
    *,
    cache: Cache | None = None,
    temperature: float = 1.0,
    compute_entropy: bool = True,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    vocab_chunk_size: int = DEFAULT_VOCAB_CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per-token log-probability of each next token under a causal LM, and the entropy there.

    Args:
        model: a ``transformers`` causal LM (``model.base_model`` backbone + output embeddings).
        input_ids: ``[B, L]``.
        attention_mask: ``[B, L]``, or ``[B, C + L]`` with a ``cache`` of ``C`` tokens.
        labels: ``[B, L]`` aligned with ``input_ids`` (HF convention: shifted here), ``-100`` where
            not scored; defaults to ``input_ids`` with padding (``attention_mask == 0``) ignored.
        cache: keys/values of ``C`` tokens that precede ``input_ids`` in every row (a
            ``transformers`` ``Cache`` of batch size ``B``), so a shared prefix is encoded once;
            the call appends ``input_ids`` to it. Position 0 can only be scored by the prefix's
            last hidden state, so keep that last prefix token out of the cache and put it first
            in ``input_ids`` (with label ``-100``).
        temperature: logits are divided by it.

    Returns:
        ``(logprobs, entropy)``, each ``[B, L - 1]``: position ``i`` scores ``labels[:, i + 1]``;
        0 at ignored positions. Gradients flow unless the caller disables them (wrap evaluation
        in ``torch.inference_mode()``).
    """
    _check_plain_lm_head(model)
    if labels is None:
        labels = (
            input_ids
            if attention_mask is None
            else input_ids.masked_fill(attention_mask[:, -input_ids.shape[1] :] == 0, IGNORE_INDEX)
        )
    backbone_kwargs: dict[str, object] = {"use_cache": cache is not None}
    if cache is not None:
        backbone_kwargs["cache"] = cache
    hidden = model.base_model(
        input_ids=input_ids, attention_mask=attention_mask, **backbone_kwargs
    ).last_hidden_state
    return _lm_head_scores(
        model,
        hidden[:, :-1],
        labels[:, 1:],
        temperature,
        compute_entropy,
        chunk_size,
        vocab_chunk_size,
    )


@dataclass
class ChunkedCausalLMOutput:
    """What TRL's trainers read from ``model(..., fused_lm_head=True)`` (its
    ``FusedCausalLMOutput`` fields that this kernel computes). Per-token fields are
    ``[B, L - 1]`` (``[B, L]`` with ``shift_labels``) and 0 where the label is ``-100``."""

    loss: torch.Tensor
    log_probs: torch.Tensor
    entropy: torch.Tensor | None
    label_mask: torch.Tensor
    aux_loss: torch.Tensor | None = None


def install_chunked_lm_head(
    model: torch.nn.Module,
    temperature: float = 1.0,
    *,
    compute_entropy: bool = True,
    cast_to_fp32: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    vocab_chunk_size: int = DEFAULT_VOCAB_CHUNK_SIZE,
) -> None:
    """Patch ``model.forward`` so that ``model(..., labels=..., fused_lm_head=True)`` returns a
    :class:`ChunkedCausalLMOutput` computed with our kernel (TRL's ``add_fused_lm_head`` contract);
    any other call goes to the previous forward, so ``generate`` is unchanged. Patch the base model
    before PEFT/DDP wrapping, or the PEFT base model (``get_base_model()``) after.

    ``cast_to_fp32`` runs the LM-head projection in float32 outside autocast (TRL's
    ``cast_lm_head_to_fp32``). The backbone is ``model.base_model``, which for transformers 5
    vision-language models (Qwen2.5-VL) is the multimodal model: it takes ``pixel_values``,
    ``image_grid_thw`` and ``mm_token_type_ids`` and computes the 3-D rope positions itself, as
    the model's own forward does."""
    _check_plain_lm_head(model)
    if getattr(model.config.get_text_config(), "output_router_logits", False):
        # TRL's head adds the MoE load-balancing loss when the config asks for router logits.
        raise NotImplementedError(
            f"{type(model).__name__}: config.output_router_logits=True asks for the MoE "
            "load-balancing loss, which the chunked LM head does not compute; use TRL's fused head"
        )
    previous_forward = model.forward

    @functools.wraps(type(model).forward)  # generate() validates its kwargs against the signature
    def _chunked_forward(
        self,
        *args,
        fused_lm_head=False,
        labels=None,
        shift_labels=None,
        num_items_in_batch=None,
        **kwargs,
    ):
        if not fused_lm_head:
            for name, value in (
                ("labels", labels),
                ("shift_labels", shift_labels),
                ("num_items_in_batch", num_items_in_batch),
            ):
                if value is not None:
                    kwargs[name] = value
            return previous_forward(*args, **kwargs)
        if kwargs.get("output_router_logits"):
            raise NotImplementedError(
                f"{type(self).__name__}: the chunked LM head does not compute the MoE "
                "load-balancing loss (output_router_logits=True); use TRL's fused head"
            )
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state
        if shift_labels is None:
            hidden, targets = hidden[:, :-1], labels[:, 1:]
        else:  # pre-shifted under context/sequence parallelism
            targets = shift_labels
        autocast = contextlib.nullcontext()
        if cast_to_fp32:
            hidden = hidden.float()
            autocast = torch.autocast(hidden.device.type, enabled=False)
        with autocast:
            log_probs, entropy = _lm_head_scores(
                self, hidden, targets, temperature, compute_entropy, chunk_size, vocab_chunk_size
            )
        mask = targets.to(log_probs.device) != IGNORE_INDEX
        denominator = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return ChunkedCausalLMOutput(
            loss=-log_probs.sum() / denominator,
            log_probs=log_probs,
            entropy=entropy,
            label_mask=mask,
        )

    model.forward = types.MethodType(_chunked_forward, model)


def sharded_lm_head(trainer: object) -> str | None:
    """Why the trainer's LM-head weight is not a plain local tensor (``None`` when it is).

    The kernel reads ``lm_head.weight`` directly. Under DeepSpeed ZeRO-3 that weight is
    partitioned to ``numel 0`` outside the head's own forward, and under FSDP it is a sharded
    ``DTensor``; TRL's fused head gathers it around the call (``maybe_gather_lm_head_ctx``),
    which this kernel — whose backward recomputes the logits — does not do yet.
    """
    if getattr(trainer, "is_fsdp_enabled", False):
        return "FSDP shards the LM head's weight"
    if getattr(trainer, "is_deepspeed_enabled", False):
        plugin = getattr(getattr(getattr(trainer, "accelerator", None), "state", None),
                         "deepspeed_plugin", None)
        if getattr(plugin, "zero_stage", None) == 3:
            return "DeepSpeed ZeRO-3 partitions the LM head's weight"
    return None


class ChunkedLogprobsGRPOMixin:
    """Put before ``trl.GRPOTrainer`` in the bases: ``class T(ChunkedLogprobsGRPOMixin,
    GRPOTrainer)``. After TRL's ``__init__`` has installed its own fused LM head, this installs
    ours on the policy (PEFT base model if wrapped) and on the reference model, at the trainer's
    sampling temperature, so every ``_get_per_token_logps_and_entropies`` call goes through
    :func:`token_logprobs_and_entropy`. Where the head's weight is sharded (ZeRO-3, FSDP; see
    :func:`sharded_lm_head`) TRL's own fused head stays in place, with a warning. MoE router
    aux loss is not supported (raises at construction)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if getattr(self, "aux_loss_enabled", False):
            raise NotImplementedError(
                f"{type(self.model).__name__}: TRL adds the MoE load-balancing loss for this "
                "model, which the chunked LM head does not compute; set lm_head: trl"
            )
        reason = sharded_lm_head(self)
        if reason is not None:
            logger.warning("lm_head: chunked — %s; TRL's fused head computes the GRPO "
                           "log-probabilities in this run", reason)
            return
        policy = self.model
        if hasattr(policy, "get_base_model") and hasattr(policy, "peft_config"):
            policy = policy.get_base_model()
        cast = bool(getattr(self.args, "cast_lm_head_to_fp32", False))
        install_chunked_lm_head(policy, temperature=self.temperature, cast_to_fp32=cast)
        if getattr(self, "ref_model", None) is not None:
            # TRL reads only log-probabilities from the reference model
            install_chunked_lm_head(
                self.ref_model,
                temperature=self.temperature,
                compute_entropy=False,
                cast_to_fp32=cast,
            )
