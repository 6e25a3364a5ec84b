"""A small byte-level BPE tokenizer trained locally for the offline presets.

The presets must build without hub access, so instead of downloading Qwen's 150k-token
vocabulary we train a few-thousand-token byte-level BPE (the same algorithm Qwen uses) on the
project's own corpus and give it Qwen's special tokens and a Qwen-style chat template. The
result is a ``PreTrainedTokenizerFast`` saved with ``save_pretrained``, loaded back by
``AutoTokenizer`` exactly like a hub tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

#: Qwen2/Qwen2.5-VL special tokens, in Qwen's order (ids follow the BPE byte alphabet here).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: Qwen2.5-VL's chat template, minus the default system prompt (which only lengthens every
#: sequence of a tiny model). Content may be a string or a list of typed blocks; each image
#: block becomes ``<|vision_start|><|image_pad|><|vision_end|>``, which the processor expands
#: to the image's patch tokens. Real checkpoints bring their own template.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{% if not (loop.last and continue_final_message) %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def train_bpe_tokenizer(
    corpus: Iterable[str], vocab_size: int, model_max_length: int
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE on ``corpus`` lines and wrap it as a chat-ready HF tokenizer.

    Deterministic for a given corpus and size (the BPE trainer breaks ties by pair order).
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        model_max_length=model_max_length,
        padding_side="left",
        chat_template=QWEN_CHAT_TEMPLATE,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
    )
    return hf
