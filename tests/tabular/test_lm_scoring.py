"""Label scoring of the tabular LM against the model's own full logits, on the tiny Qwen2 preset."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from datarecipes.config import ParameterError, from_params
from datarecipes.models import ModelParams, load_model
from datarecipes.pipelines.scm.lm_nodes import evaluate_tabular_lm
from datarecipes.tabular.lm_predict import parse_predictions
from datarecipes.tabular.lm_scoring import (
    prompt_labels,
    prompt_test_ids,
    score_answer,
    score_answers,
)
from datarecipes.tabular.params import ScmGenerationParams, ScmParams
from datarecipes.tabular.serialize import answer_json, build_messages
from datarecipes.tabular.tables import Table


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    torch.set_num_threads(2)
    cache = str(tmp_path_factory.mktemp("presets"))
    return load_model(ModelParams(preset="tiny-lm", preset_cache_dir=cache))


def _prompt(seed: int, n_classes: int = 3, shots: int = 12, tests: int = 5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(shots + tests, 4))
    y = np.arange(shots + tests) % n_classes
    return build_messages(x[:shots], y[:shots], x[shots:])


def _shared_length(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _naive_scores(model, tokenizer, messages, ids, chosen, candidates):
    """Per row and candidate: full forward over the whole text, log_softmax of the logits,
    summed over the tokens after those every candidate shares."""
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    rows = []
    for j in range(len(ids)):
        done = "".join(f'{{"id":{i},"label":{y}}},' for i, y in zip(ids[:j], chosen[:j]))
        head = prompt + "[" + done + f'{{"id":{ids[j]},"label":'
        nxt = "]" if j + 1 == len(ids) else f',{{"id":{ids[j + 1]},"label":'
        seqs = [tokenizer(head + f"{c}}}" + nxt, add_special_tokens=False)["input_ids"]
                for c in candidates]
        shared = min(_shared_length(seqs[0], s) for s in seqs)
        row = []
        for s in seqs:
            ids_t = torch.tensor([s])
            with torch.no_grad():
                logp = torch.log_softmax(model(input_ids=ids_t).logits[0, :-1].float(), -1)
            picked = logp.gather(-1, ids_t[0, 1:, None]).squeeze(-1)
            row.append(float(picked[shared - 1 :].sum()))
        rows.append(row)
    return rows


@pytest.mark.parametrize("candidates", [None, [0, 1, 2, 10, 11]], ids=["label-set", "multi-digit"])
def test_chosen_labels_are_the_argmax_of_the_models_full_logits(tiny_lm, candidates):
    messages = _prompt(0)
    answer = score_answer(tiny_lm.model, tiny_lm.tokenizer, messages, candidates)
    assert answer.candidates == (candidates or [0, 1, 2])
    naive = _naive_scores(tiny_lm.model, tiny_lm.tokenizer, messages, answer.ids,
                          answer.labels, answer.candidates)
    np.testing.assert_allclose(answer.scores, naive, rtol=1e-4, atol=1e-4)
    for row, label in zip(naive, answer.labels):
        assert answer.candidates[int(np.argmax(row))] == label
    # the scores discriminate (a constant score would make the argmax check vacuous)
    assert np.ptp(np.asarray(answer.scores), axis=1).min() > 1e-3


def test_answer_is_the_trained_format_and_parses_for_every_id(tiny_lm):
    for seed, n_classes in [(1, 2), (2, 4), (3, 3)]:
        messages = _prompt(seed, n_classes=n_classes, tests=7)
        answer = score_answer(tiny_lm.model, tiny_lm.tokenizer, messages)
        assert answer.ids == list(range(7))
        assert answer.text == answer_json(answer.labels)  # byte for byte the SFT answer
        parsed = parse_predictions(answer.text, answer.ids)
        assert all(parsed[i] in range(n_classes) for i in answer.ids), parsed
        # the text the scores were computed for tokenizes like the SFT record of this answer
        tok = tiny_lm.tokenizer
        full = tok.apply_chat_template(
            messages + [{"role": "assistant", "content": answer.text}], tokenize=False)
        prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert full.startswith(prompt + answer.text)


def test_a_model_biased_toward_a_label_picks_it(tiny_lm):
    model = copy.deepcopy(tiny_lm.model)
    one = tiny_lm.tokenizer.convert_tokens_to_ids("1")
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.copy_(model.get_output_embeddings().weight)
        head.bias.zero_()
        head.bias[one] = 30.0
    model.set_output_embeddings(head)
    messages = _prompt(4, n_classes=3)
    unbiased = score_answer(tiny_lm.model, tiny_lm.tokenizer, messages).labels
    assert unbiased != [1] * 5  # else the check below says nothing
    assert score_answer(model, tiny_lm.tokenizer, messages).labels == [1] * 5
    texts = score_answers(model, tiny_lm.tokenizer, [messages, _prompt(5, n_classes=2)])
    assert [parse_predictions(t.text, range(5)) for t in texts] == [dict.fromkeys(range(5), 1)] * 2


def test_prompt_parsing_reads_the_serialized_prompt_and_names_what_is_missing():
    messages = _prompt(6, n_classes=2, tests=3)
    assert prompt_labels(messages) == [0, 1] and prompt_test_ids(messages) == [0, 1, 2]
    with pytest.raises(ValueError, match="Label set"):
        prompt_labels([{"role": "user", "content": "[Test set]\n0:1,2\n"}])
    with pytest.raises(ValueError, match="Test set"):
        prompt_test_ids([{"role": "user", "content": "Label set = [0, 1]."}])
    assert json.loads(answer_json([1, 0])) == [{"id": 0, "label": 1}, {"id": 1, "label": 0}]


def test_node_in_score_mode_answers_every_test_row(tiny_lm):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    table = Table(name="toy", X=x, y=y, feature_names=["a", "b", "c"],
                  classes=["no", "yes"], categorical={}, notes=[])
    scm = from_params(ScmParams, {"eval_shots": [8, 16], "test_rows_per_prompt": 6,
                                  "shuffle_seeds": [40, 41], "max_test_rows": 12,
                                  "max_prompt_tokens": 4096}, where="test")
    metrics, predictions = evaluate_tabular_lm({"toy": table}, tiny_lm, scm,
                                               ScmGenerationParams(mode="score"))
    assert len(predictions) == 2 * 2 * 12  # shots x seeds x rows
    assert predictions["label"].isin([0, 1]).all()  # every row answered in range
    assert list(metrics["shots"]) == [8, 16] and metrics["accuracy"].between(0, 1).all()


def test_generation_mode_is_validated():
    assert from_params(ScmGenerationParams, {}, where="test").mode == "generate"
    with pytest.raises(ParameterError, match="mode"):
        from_params(ScmGenerationParams, {"mode": "sample"}, where="parameters_scm.yml")


def test_reference_format_prompts_are_scored_in_the_reference_answer_format(tiny_lm):
    from datarecipes.tabular.serialize import PromptFormatParams

    fmt = PromptFormatParams.reference()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(16, 3))
    messages = build_messages(x[:12], np.arange(12) % 3, x[12:], fmt=fmt)
    assert prompt_test_ids(messages) == [0, 1, 2, 3]  # "ID 0:..." rows
    answer = score_answer(tiny_lm.model, tiny_lm.tokenizer, messages, fmt=fmt)
    assert answer.text == answer_json(answer.labels, fmt)  # '[{"id": 0, "label": 2}, ...]'
    assert ", " in answer.text
    probs = np.asarray(answer.probs)
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1.0)
    assert (probs.argmax(axis=1) == answer.labels).all()


def test_label_probabilities_follow_the_generated_answer(tiny_lm):
    from datarecipes.tabular.lm_scoring import label_probabilities

    messages = _prompt(3, n_classes=3, tests=4)
    free = score_answer(tiny_lm.model, tiny_lm.tokenizer, messages)
    wrong = [(label + 1) % 3 for label in free.labels]  # a "generation" unlike the best
    generated = answer_json(wrong)
    (forced,) = label_probabilities(tiny_lm.model, tiny_lm.tokenizer, [messages], [generated])
    assert forced.labels == wrong and forced.text == generated
    probs = np.asarray(forced.probs)
    assert probs.shape == (4, 3) and np.allclose(probs.sum(axis=1), 1.0)
    # the first row is scored before any forced label: the model's own distribution
    assert np.allclose(probs[0], np.asarray(free.probs)[0])


def test_generate_mode_reads_label_probabilities_for_the_auc(tiny_lm, monkeypatch):
    import datarecipes.tabular.evaluate as evaluate

    seen = []
    metrics = evaluate.classification_metrics

    def spy(y_true, y_pred, scores, n_classes):
        seen.append(np.asarray(scores))
        return metrics(y_true, y_pred, scores, n_classes)

    monkeypatch.setattr(evaluate, "classification_metrics", spy)
    rng = np.random.default_rng(11)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] > 0).astype(np.int64)
    table = Table(name="toy", X=x, y=y, feature_names=["a", "b", "c"],
                  classes=["no", "yes"], categorical={}, notes=[])
    scm = {"eval_shots": [8], "test_rows_per_prompt": 6, "shuffle_seeds": [40],
           "max_test_rows": 12, "max_prompt_tokens": 4096}
    gen = ScmGenerationParams(mode="generate", max_new_tokens=4)
    evaluate_tabular_lm({"toy": table}, tiny_lm, from_params(ScmParams, scm, where="test"), gen)
    evaluate_tabular_lm({"toy": table}, tiny_lm, from_params(
        ScmParams, {**scm, "protocol": {"auc_from": "probabilities"}}, where="test"), gen)
    votes, probs = seen
    # 4 tokens parse to no answer: the vote shares are all zero; the AUC of the reference
    # protocol reads the label log-probs of a teacher-forced pass instead
    assert (votes == 0).all()
    assert probs.shape == (12, 2) and np.allclose(probs.sum(axis=1), 1.0)
    assert np.ptp(probs[:, 1]) > 0  # they differ from row to row
