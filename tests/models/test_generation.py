import pytest
from PIL import Image

from datarecipes.models import generate
from datarecipes.models.conversations import BadSampleError, llava_to_messages
from datarecipes.models.generation import render_prompts

QUESTION = [{"role": "user", "content": "What colour is the shape?"}]


def test_greedy_is_deterministic_and_batched(tiny_vlm):
    images = [Image.new("RGB", (56, 56), c) for c in ("red", "blue", "green")]
    batch = [QUESTION, QUESTION, [{"role": "user", "content": "How many shapes are there?"}]]
    first = generate(tiny_vlm, batch, images, max_new_tokens=6)
    again = generate(tiny_vlm, batch, images, max_new_tokens=6, batch_size=2)
    assert first == again  # left padding: batch composition does not change greedy outputs
    assert [len(x) for x in first] == [1, 1, 1]


def test_sampling_returns_k_sequences_and_is_seeded(tiny_lm):
    a = generate(tiny_lm, [QUESTION], max_new_tokens=8, temperature=1.0,
                 num_return_sequences=4, seed=3)
    b = generate(tiny_lm, [QUESTION], max_new_tokens=8, temperature=1.0,
                 num_return_sequences=4, seed=3)
    assert a == b and len(a[0]) == 4
    assert len(set(a[0])) > 1  # a random tiny LM at temperature 1 does not repeat itself


def test_stop_strings_cut_after_the_stop(tiny_lm):
    free = generate(tiny_lm, [QUESTION], max_new_tokens=30, temperature=1.0, seed=0)[0][0]
    stop = free.strip()[:2] if len(free.strip()) >= 2 else free
    cut = generate(tiny_lm, [QUESTION], max_new_tokens=30, temperature=1.0, seed=0,
                   stop_strings=[stop])[0][0]
    assert cut.endswith(stop) and len(cut) <= len(free)


def test_assistant_last_turn_is_continued(tiny_lm):
    conversation = QUESTION + [{"role": "assistant", "content": "### Step1: look <end>"}]
    (text,) = render_prompts(tiny_lm, [conversation], [0])
    assert text.endswith("### Step1: look <end>")
    (fresh,) = render_prompts(tiny_lm, [QUESTION], [0])
    assert fresh.endswith("<|im_start|>assistant\n")


def test_image_count_mismatch_is_an_error(tiny_vlm):
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "image"},
                                                 {"type": "text", "text": "same?"}]}]
    with pytest.raises(BadSampleError, match="2 image placeholder"):
        generate(tiny_vlm, [conversation], [Image.new("RGB", (56, 56))], max_new_tokens=2)


def test_undecodable_image_names_the_file(tiny_vlm, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(BadSampleError, match="broken.png"):
        generate(tiny_vlm, [QUESTION], [str(bad)], max_new_tokens=2)


def test_llava_record_to_messages():
    messages = llava_to_messages({
        "id": "x1", "image": "a.png",
        "conversations": [{"from": "human", "value": "<image>\nWhat colour?"},
                          {"from": "gpt", "value": "red"}],
    })
    assert messages[0] == {"role": "user", "content": [{"type": "image"},
                                                       {"type": "text", "text": "What colour?"}]}
    assert messages[1]["role"] == "assistant"
    with pytest.raises(BadSampleError, match="x2"):
        llava_to_messages({"id": "x2", "conversations": [{"from": "robot", "value": "hi"}]})
