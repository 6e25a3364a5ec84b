"""score_sequences and the GRPO hook on a tiny random Qwen2, against the model's own logits."""

import copy

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from datarecipes.kernels import install_chunked_lm_head, integration, score_sequences

VOCAB = 5000


@pytest.fixture(scope="module")
def tiny_qwen2() -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    config = Qwen2Config(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        vocab_size=VOCAB,
        pad_token_id=0,
        eos_token_id=VOCAB - 1,
    )
    return Qwen2ForCausalLM(config).eval()


def _batch():
    generator = torch.Generator().manual_seed(3)
    input_ids = torch.randint(1, VOCAB, (3, 14), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, :5] = 0  # left padding, as in generation batches
    attention_mask[2, -3:] = 0  # right padding
    return input_ids, attention_mask


def _naive_scores(model, input_ids, attention_mask, temperature):
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]
    log_p = torch.log_softmax(logits.float() / temperature, dim=-1)
    logprobs = log_p.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    scored = attention_mask[:, 1:].bool()
    return logprobs * scored, entropy * scored


def test_score_sequences_matches_model_logits_and_gradients(tiny_qwen2):
    model = copy.deepcopy(tiny_qwen2)
    input_ids, attention_mask = _batch()
    logprobs, entropy = score_sequences(
        model, input_ids, attention_mask, temperature=0.7, chunk_size=5, vocab_chunk_size=1024
    )
    ref_lp, ref_ent = _naive_scores(model, input_ids, attention_mask, 0.7)
    assert logprobs.shape == (3, 13)
    torch.testing.assert_close(logprobs, ref_lp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropy, ref_ent, rtol=1e-5, atol=1e-5)
    assert torch.all(logprobs[2, -3:] == 0) and torch.all(logprobs[1, 4:] < 0)
    # gradients reach the LM head and the backbone as through the model's own logits
    params = [model.lm_head.weight, model.model.layers[0].mlp.up_proj.weight]
    got = torch.autograd.grad(logprobs.sum() + entropy.sum(), params)
    want = torch.autograd.grad(ref_lp.sum() + ref_ent.sum(), params)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


def test_score_sequences_explicit_labels(tiny_qwen2):
    input_ids, attention_mask = _batch()
    labels = input_ids.clone()
    labels[:, :8] = -100  # score completions only
    with torch.inference_mode():
        logprobs, entropy = score_sequences(tiny_qwen2, input_ids, None, labels)
        ref_lp, _ = _naive_scores(tiny_qwen2, input_ids, torch.ones_like(input_ids), 1.0)
    torch.testing.assert_close(logprobs[:, 7:], ref_lp[:, 7:], rtol=1e-5, atol=1e-5)
    assert torch.all(logprobs[:, :7] == 0) and torch.all(entropy[:, :7] == 0)


def test_installed_head_matches_trl_fused_head_and_keeps_generate(tiny_qwen2):
    trl_utils = pytest.importorskip("trl.trainer.utils")
    ours, theirs = copy.deepcopy(tiny_qwen2), copy.deepcopy(tiny_qwen2)
    trl_utils.add_fused_lm_head(theirs, temperature=0.9, outputs=("log_probs", "entropy"))
    install_chunked_lm_head(ours, temperature=0.9, vocab_chunk_size=700)
    input_ids, attention_mask = _batch()
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    out = ours(
        input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True
    )
    ref = theirs(
        input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True
    )
    torch.testing.assert_close(out.log_probs, ref.log_probs, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.entropy, ref.entropy, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.loss, ref.loss)
    # the gradients GRPO's loss sends into the model are TRL's, tensor by tensor
    weights = torch.linspace(-1.0, 1.0, out.log_probs.numel()).reshape(out.log_probs.shape)
    (out.log_probs * weights).sum().backward()
    (ref.log_probs * weights).sum().backward()
    for (name, ours_p), (_, theirs_p) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert theirs_p.grad is not None and theirs_p.grad.abs().sum() > 0, name
        torch.testing.assert_close(ours_p.grad, theirs_p.grad, rtol=1e-4, atol=1e-6, msg=name)
    ours.zero_grad(), theirs.zero_grad()
    # without fused_lm_head the original forward runs: logits and greedy generation unchanged
    plain = ours(input_ids=input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(
        plain, tiny_qwen2(input_ids=input_ids, attention_mask=attention_mask).logits
    )
    prompt = input_ids[:1, :5]
    assert torch.equal(
        ours.generate(prompt, max_new_tokens=4, do_sample=False),
        tiny_qwen2.generate(prompt, max_new_tokens=4, do_sample=False),
    )


def test_grpo_mixin_routes_training_through_the_kernel(tiny_qwen2, tmp_path, monkeypatch):
    trl = pytest.importorskip("trl")
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<pad>": 0, "<eos>": VOCAB - 1, **{f"w{i}": i for i in range(1, VOCAB - 1)}}
    tokenizer = Tokenizer(models.WordLevel(vocab=words, unk_token="<pad>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    processing_class = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="<eos>"
    )
    prompts = [" ".join(f"w{(7 * i + j) % 4000 + 1}" for j in range(5)) for i in range(8)]
    calls = []
    kernel = integration.token_logprobs_and_entropy

    def spy(*args, **kwargs):
        calls.append(kwargs["temperature"])
        return kernel(*args, **kwargs)

    monkeypatch.setattr(integration, "token_logprobs_and_entropy", spy)

    class Trainer(integration.ChunkedLogprobsGRPOMixin, trl.GRPOTrainer):
        pass

    model = copy.deepcopy(tiny_qwen2).train()
    args = trl.GRPOConfig(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=6,
        max_steps=1,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        temperature=0.8,
        learning_rate=1e-2,
        beta=0.0,
    )
    trainer = Trainer(
        model=model,
        reward_funcs=lambda prompts, completions, **_: [float(len(c)) for c in completions],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=processing_class,
    )
    input_ids, attention_mask = _batch()
    logps, entropies, _ = trainer._get_per_token_logps_and_entropies(
        model, input_ids, attention_mask, logits_to_keep=6, compute_entropy=True
    )
    with trainer.accelerator.autocast():  # TRL scores under the trainer's mixed precision
        ref_lp, ref_ent = _naive_scores(model, input_ids, attention_mask, 0.8)
    torch.testing.assert_close(logps, ref_lp[:, -6:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropies, ref_ent[:, -6:], rtol=1e-5, atol=1e-5)
    assert calls and set(calls) == {0.8}

    before = [p.detach().clone() for p in model.parameters()]
    calls.clear()
    trainer.train()
    assert calls, "the training step did not go through the chunked kernel"
    assert any(not torch.equal(b, p) for b, p in zip(before, model.parameters()))


def test_installed_head_on_qwen2_5_vl_with_images_matches_the_model(tmp_path_factory):
    """Qwen2.5-VL's ``base_model`` is the multimodal backbone: given the processor's
    ``pixel_values`` / ``image_grid_thw`` / ``mm_token_type_ids`` (as TRL passes them) it embeds
    the images and builds the 3-D rope positions exactly as the model's own forward does."""
    from PIL import Image

    from datarecipes.models import ModelParams, load_model
    from datarecipes.models.generation import render_prompts

    loaded = load_model(
        ModelParams(preset="tiny-vlm", preset_cache_dir=str(tmp_path_factory.mktemp("presets")))
    )
    images = [Image.new("RGB", (64, 64), (200, 10, 10)), Image.new("RGB", (100, 60), (9, 90, 9))]
    conversations = [
        [{"role": "user", "content": "What colour is it?"},
         {"role": "assistant", "content": "red, I think"}],
        [{"role": "user", "content": "Count the shapes please"},
         {"role": "assistant", "content": "two"}],
    ]
    inputs = loaded.processor(
        text=render_prompts(loaded, conversations, [1, 1]), images=images, padding=True,
        padding_side="left", return_tensors="pt", add_special_tokens=False,
    )
    assert "mm_token_type_ids" in inputs  # else the backbone falls back to 1-D positions
    model = copy.deepcopy(loaded.model)
    labels = inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)
    with torch.no_grad():
        logits = model(**inputs).logits[:, :-1].float()
        want = torch.log_softmax(logits / 0.7, -1).gather(-1, inputs["input_ids"][:, 1:, None])
        want = want.squeeze(-1) * (labels[:, 1:] != -100)
        install_chunked_lm_head(model, temperature=0.7, vocab_chunk_size=300)
        out = model(**inputs, labels=labels, fused_lm_head=True)
    torch.testing.assert_close(out.log_probs, want, rtol=1e-5, atol=1e-5)
    assert out.label_mask.sum() == (labels[:, 1:] != -100).sum()


def test_cast_to_fp32_scores_the_head_in_float32_under_autocast(tiny_qwen2):
    model = copy.deepcopy(tiny_qwen2)
    install_chunked_lm_head(model, cast_to_fp32=True)
    input_ids, attention_mask = _batch()
    labels = input_ids.masked_fill(attention_mask == 0, -100)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        cast = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels,
                     fused_lm_head=True).log_probs
        hidden = model.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    # float32 head on the (bf16-autocast) backbone's hidden states, as TRL's cast_lm_head_to_fp32
    want = torch.log_softmax(hidden[:, :-1].float() @ model.lm_head.weight.T, -1)
    want = want.gather(-1, input_ids[:, 1:, None]).squeeze(-1) * (labels[:, 1:] != -100)
    assert cast.dtype == torch.float32
    torch.testing.assert_close(cast, want, rtol=1e-5, atol=1e-5)


def test_moe_router_aux_loss_is_refused_at_install(tiny_qwen2):
    model = copy.deepcopy(tiny_qwen2)
    model.config.output_router_logits = True
    with pytest.raises(NotImplementedError, match="output_router_logits"):
        install_chunked_lm_head(model)


def test_score_sequences_continues_a_cached_prefix(tiny_qwen2):
    """A shared prefix encoded once in a key/value cache, then right-padded continuations: the
    scores of the continuation tokens equal those of the full sequences."""
    from transformers import DynamicCache

    generator = torch.Generator().manual_seed(5)
    prefix = torch.randint(1, VOCAB, (1, 9), generator=generator)
    tails = torch.randint(1, VOCAB, (2, 4), generator=generator)
    tail_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    cache = DynamicCache(config=tiny_qwen2.config)
    with torch.inference_mode():
        tiny_qwen2.model(input_ids=prefix[:, :-1], cache=cache, use_cache=True)
        cache.batch_repeat_interleave(2)
        inputs = torch.cat([prefix[:, -1:].expand(2, 1), tails], dim=1)
        mask = torch.cat([torch.ones(2, 9, dtype=torch.long), tail_mask], dim=1)
        got, _ = score_sequences(tiny_qwen2, inputs, mask, cache=cache)
        full = torch.cat([prefix.expand(2, -1), tails], dim=1)
        want, _ = _naive_scores(tiny_qwen2, full, mask, 1.0)
    assert cache.get_seq_length() == 8 + 5  # the call appended its tokens
    torch.testing.assert_close(got, want[:, -4:], rtol=1e-5, atol=1e-5)
    assert torch.all(got[1, 2:] == 0) and torch.all(got[1, :2] < 0)


def test_sharded_lm_head_is_detected_so_trl_keeps_its_head():
    """ZeRO-3 partitions and FSDP shards the head's weight, which the kernel reads directly:
    the mixin must then leave TRL's gathering head in place."""
    from types import SimpleNamespace

    from datarecipes.kernels.integration import sharded_lm_head

    def trainer(fsdp=False, deepspeed=False, stage=None):
        plugin = SimpleNamespace(zero_stage=stage) if deepspeed else None
        return SimpleNamespace(is_fsdp_enabled=fsdp, is_deepspeed_enabled=deepspeed,
                               accelerator=SimpleNamespace(state=SimpleNamespace(
                                   deepspeed_plugin=plugin)))

    assert sharded_lm_head(trainer()) is None
    assert sharded_lm_head(trainer(deepspeed=True, stage=2)) is None  # ZeRO-2: full weights
    assert "ZeRO-3" in sharded_lm_head(trainer(deepspeed=True, stage=3))
    assert "FSDP" in sharded_lm_head(trainer(fsdp=True))
