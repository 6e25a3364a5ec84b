# ruff: noqa: E501  (the reference strings are copied as written, one line each)
"""Filtering's reference choices: MLM-Filter's prompts byte for byte, and packing lengths counted
with the trained model's tokenizer as Open-Qwen2VL counts them."""

from __future__ import annotations

import numpy as np
import pytest

from datarecipes.filtering.mllm_score import METRICS, mllm_prompt, prompt_templates
from datarecipes.filtering.packing import sample_lengths, text_token_counter

# Copied from Victorwz/MLM_Filter@7c4cd80 mlm_filter_scoring_datacomp_batch_inference_v2.py,
# as written there (the script run_inference.sh runs).
LLAVA_INSTRUCTION_TEMPLATE = """Text Caption: {caption}

{criteria} A higher score indicates higher level of {aspect}. Ensure that your scoring is nuanced and uses the entire range from 0 to 100, reflecting the subtle differences. The score should be given as an integer, with each number between 0 and 100 considered as a potential score, avoiding the tendency to round to multiples of 5 or 10. Please first output a single line containing the value indicating the scores. In the subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any potential bias."""

criteria_image_text_matching = "Please evaluate if the provided text caption accurately represents the main features and objects of the image. The caption doesn't need to detail every aspect of the image, but it should capture its primary theme. Rate the overall quality of the text caption's match to the image on a scale of 1-100, considering the criteria mentioned."

criteria_object_detail_fulfillment = "Please evaluate the text caption to determine if it provides detailed descriptions of objects that align with the image. Specifically, assess if the caption sufficiently describes the color, size, position, shape, material, etc., of the objects. Afterward, rate the caption's overall accuracy in capturing object details from the image on a scale of 1-100, based on the criteria provided."

criteria_caption_text_quality = "Please evaluate the text caption based on the following criteria: Grammatical Correctness, Diversity of Vocabulary (e.g., the range and uniqueness of words used), Fluency (e.g., smoothness and natural flow of sentences), Readability, Length, and Structure. Assign an overall quality score on a scale of 1-100."

criteria_semantic_understanding = """Evaluate the given text caption in relation to its corresponding image. Your goal is to determine if the text caption provides additional semantic information that isn't readily apparent just from the image itself.

For example:

1. If the image mentions "a man" but the caption elaborates he is a "homeless man" or a "businessman," then the caption is enriching the semantic context.
2. If the caption introduces concepts like the mathematical tangent function, which require in-depth knowledge to deduce, it is imparting external semantics.
3. Captions revealing specific location addresses, festival details, or other nuanced data not easy to infer from the image also provide external semantic information.
4. Directly identifying specific entities in the image such as buildings, people, bird species, animal breeds, car models, engines, etc., in the caption introduces additional insights.
5. Should the image act as a contextual backdrop and the caption describes elements not explicitly showcased in the image, it has semantic depth.
6. Lastly, if the caption depicts relationships between the subjects in the image, which need commonsense knowledge to understand, it should be considered semantically rich.

Please assess and determine the extent of semantic enrichment the caption provides over the image. Rate the text caption's semantic depth on a scale from 1 to 100."""

REFERENCE_TASKS = {"itm": "image_text_matching", "odf": "object_detail_fulfillment",
                   "ctq": "caption_text_quality", "su": "semantic_understanding"}
ALL_METRICS = {
    "image_text_matching": criteria_image_text_matching,
    "object_detail_fulfillment": criteria_object_detail_fulfillment,
    "caption_text_quality": criteria_caption_text_quality,
    "semantic_understanding": criteria_semantic_understanding,
}


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("caption", ["a red cube left of a blue sphere",
                                     "curly {braces} and \"quotes\"\nover two lines"])
def test_reference_prompts_are_byte_identical(metric, caption):
    task = REFERENCE_TASKS[metric]
    # DataCollatorForImagePreprocessing.format_text, before the image token and chat template.
    expected = LLAVA_INSTRUCTION_TEMPLATE.format(caption=caption, criteria=ALL_METRICS[task],
                                                 aspect=task.replace("_", " "))
    assert mllm_prompt(metric, caption, "reference").encode() == expected.encode()
    assert mllm_prompt(metric, caption, "ours") != expected


def test_prompt_sets_name_different_resume_directories():
    assert prompt_templates(METRICS, "reference") != prompt_templates(METRICS, "ours")
    with pytest.raises(ValueError, match="mllm.prompts"):
        mllm_prompt("itm", "x", "paraphrase")  # type: ignore[arg-type]


def test_packing_counts_with_the_trained_models_tokenizer_as_open_qwen2vl(tmp_path):
    """Open-Qwen2VL (sequence_packing_image_to_pil.py:preprocess_caption): input_ids = BOS +
    [IMAGE] + tokenize("\\n" + caption) + EOS, length = 143 + len(input_ids)."""
    from transformers import AutoTokenizer

    from datarecipes.models import ModelParams
    from datarecipes.models.factory import resolve_path

    path = resolve_path(ModelParams(preset="tiny-lm", preset_cache_dir=str(tmp_path)))
    tokenizer = AutoTokenizer.from_pretrained(path)
    captions = ["a red cube", "two small blue spheres behind a large green cylinder", ""]
    reference = []
    for caption in captions:
        ids = [-200] + tokenizer("\n" + caption, add_special_tokens=False)["input_ids"]
        ids = [tokenizer.bos_token_id or 0] + ids + [tokenizer.eos_token_id or 1]
        reference.append(143 + len(ids))
    ours = sample_lengths(captions, text_token_counter(path), 144)
    assert ours.tolist() == reference
    clip = sample_lengths(captions, text_token_counter(None), 144)
    assert not np.array_equal(clip, ours)  # the tokenizer choice changes the packing
