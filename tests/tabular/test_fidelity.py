"""MachineLearningLM fidelity: our ``reference`` choices against the reference's own code.

The oracle (:mod:`tests.tabular.reference_mlm`) is the reference's code copied from
MachineLearningLM @ee1a5eb. Prompts are compared byte for byte, shot draws, column orders and
baselines seed for seed, on small fixed tables.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from datarecipes.tabular.baselines import fit_predict_baseline
from datarecipes.tabular.evaluate import (
    EvalProtocolParams,
    RefusedTable,
    evaluate_baselines,
    evaluate_icl,
    plan_table,
    prompt_chunks,
    summary_metrics,
)
from datarecipes.tabular.params import ScmParams
from datarecipes.tabular.serialize import PromptFormatParams, build_messages, encode_values
from datarecipes.tabular.tables import Table
from tests.tabular import reference_mlm as ref

REFERENCE = PromptFormatParams.reference()


def _table(n: int = 230, k: int = 5, n_classes: int = 3, seed: int = 0, integer: bool = True,
           name: str = "fixed") -> tuple[Table, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    x = rng.normal(size=(n, k)) * 10 + y[:, None] * 4
    x = np.round(x) if integer else np.round(x, 3)
    table = Table(name, x.astype(np.float64), y, [f"f{i}" for i in range(k)],
                  [str(c) for c in range(n_classes)], {}, [])
    df = pd.DataFrame(x.astype(np.int64) if integer else x, columns=table.feature_names)
    df["label"] = y
    return table, df


def test_reference_prompt_is_byte_identical_including_nan_and_constant_columns():
    rng = np.random.default_rng(3)
    shots = np.round(rng.normal(size=(8, 4)) * 7, 0)
    shots[:, 2] = 5.0  # constant over the shots: the reference's 1e-6 std floor
    shots[3, 1] = np.nan
    test = np.round(rng.normal(size=(3, 4)) * 7, 0)
    test[0, 0] = np.nan
    test[1, 0] = 400.0  # far out: the reference has no upper clip
    y_shots, y_test = np.array([0, 1, 1, 0, 2, 0, 1, 1]), np.array([1, 0, 2])
    cols = [f"c{i}" for i in range(4)]
    # as read from a CSV: columns with a NaN or a decimal are float64, the others int64
    expected = ref.prompt_messages(
        pd.DataFrame(shots, columns=cols).astype({"c2": int, "c3": int}),
        pd.DataFrame(test, columns=cols).astype({"c1": int, "c2": int, "c3": int}),
        pd.Series(y_shots), pd.Series(y_test))
    ours = build_messages(shots, y_shots, test, y_test, fmt=REFERENCE)
    # a frame with a float column prints every code as "500.0" in the reference
    assert ".0," in expected[1]["content"]
    float_fmt = PromptFormatParams(**{**REFERENCE.__dict__, "float_codes": True})
    ours_float = build_messages(shots, y_shots, test, y_test, fmt=float_fmt)
    assert ours_float == expected
    assert ours != expected  # our default for integer CSVs, next test


def test_reference_prompt_of_an_integer_table_and_its_answer():
    table, df = _table(n=40, k=3)
    x_train, y_train = df.iloc[:10, :-1], df.iloc[:10, -1]
    x_test, y_test = df.iloc[10:14, :-1], df.iloc[10:14, -1]
    expected = ref.prompt_messages(x_train, x_test, y_train, y_test)
    ours = build_messages(table.X[:10], table.y[:10], table.X[10:14], table.y[10:14],
                          fmt=REFERENCE)
    assert ours == expected  # system, user and assistant, byte for byte
    assert "\nID 0:" in ours[1]["content"] and '"|"' in ours[1]["content"]
    default = build_messages(table.X[:10], table.y[:10], table.X[10:14], table.y[10:14])
    assert "\n0:" in default[1]["content"] and "“|”" in default[1]["content"]


def test_std_ddof_is_the_reference_sample_std():
    shots = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0]])
    test = np.array([[7.0]])
    _, t0 = encode_values(shots, test, PromptFormatParams(std_ddof=0))
    _, t1 = encode_values(shots, test, PromptFormatParams(std_ddof=1))
    z0, z1 = 3.5 / np.std(shots, ddof=0), 3.5 / np.std(shots, ddof=1)
    assert t0[0, 0] == int(z0 * 120 + 500) and t1[0, 0] == int(z1 * 120 + 500)
    assert t0[0, 0] != t1[0, 0]  # ~7 % apart in z at 8 shots


@pytest.mark.parametrize("n_shots,seed", [(8, 40), (32, 41)])
def test_reference_protocol_draws_the_reference_chunks_seed_for_seed(n_shots, seed):
    table, df = _table(n=330)
    plan = plan_table(table, [n_shots], protocol=EvalProtocolParams.reference())
    ours = list(prompt_chunks(plan, n_shots, seed, 50, EvalProtocolParams.reference()))
    expected = ref.chunks(df, 42, seed, n_shots)
    assert len(ours) == len(expected) == 1 + (len(df) // 5 - 1) // 50
    for chunk, (x_train, y_train, x_test, y_test) in zip(ours, expected):
        np.testing.assert_array_equal(table.X[chunk.shot_rows][:, chunk.columns], x_train.values)
        np.testing.assert_array_equal(table.y[chunk.shot_rows], y_train.values)
        test_rows = plan.test[chunk.test_pos]
        np.testing.assert_array_equal(table.X[test_rows][:, chunk.columns], x_test.values)
        np.testing.assert_array_equal(table.y[test_rows], y_test.values)
    # fresh shots per chunk, no class guarantee
    assert not np.array_equal(np.sort(ours[0].shot_rows), np.sort(ours[1].shot_rows))


def test_reference_evaluation_prompts_are_the_reference_prompts():
    table, df = _table(n=130)
    seen = []

    def spy(prompts):
        seen.append(prompts)
        return ["[]"] * len(prompts)

    evaluate_icl(spy, [table], [8], protocol=EvalProtocolParams.reference(), fmt=REFERENCE)
    for run, seed in zip(seen, (40, 41)):
        expected = [ref.prompt_messages(xtr, xte, ytr, yte)[:2]
                    for xtr, ytr, xte, yte in ref.chunks(df, 42, seed, 8)]
        assert run == expected


@pytest.mark.parametrize("name,ref_name", [("random_forest", "rf"), ("knn", "knn"),
                                           ("xgboost", "xgb")])
def test_reference_baselines_predict_as_the_reference_seed_for_seed(name, ref_name):
    table, df = _table(n_classes=2)
    for x_train, y_train, x_test, _ in ref.chunks(df, 42, 40, 32)[:2]:
        model = ref.create_model(ref_name, random_state=42)
        model.fit(x_train.values, y_train.values)
        labels, proba = fit_predict_baseline(name, x_train.values.astype(float),
                                             y_train.values, x_test.values.astype(float), 2,
                                             seed=42, hyperparameters="reference")
        np.testing.assert_array_equal(labels, model.predict(x_test.values))
        np.testing.assert_allclose(proba, model.predict_proba(x_test.values), rtol=1e-6)


def test_reference_xgboost_falls_back_to_the_majority_when_the_test_has_an_unseen_class():
    x = np.arange(16, dtype=float).reshape(8, 2)
    y = np.array([1, 0, 0, 1, 1, 0, 1, 0])
    labels, proba = fit_predict_baseline("xgboost", x, y, x[:3], 3, seed=42,
                                         hyperparameters="reference", y_test=np.array([2, 0, 1]))
    assert (labels == 1).all() and (proba[:, 1] == 1).all()  # first of the tied labels


def test_reference_baseline_protocol_votes_over_seeds():
    table, _ = _table(n=180, n_classes=2)
    out = evaluate_baselines([table], [8, 32], ["random_forest", "knn", "xgboost"],
                             protocol=EvalProtocolParams.reference(), hyperparameters="reference")
    assert set(out["method"]) == {"random_forest", "knn", "xgboost"}
    assert (out["accuracy"] > 0.55).all() and out["auc"].notna().all()


def _wide_table(n_columns: int = 70) -> Table:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    x = rng.normal(size=(200, n_columns)) + y[:, None]
    return Table("wide70", x, y, [f"f{i}" for i in range(n_columns)], ["a", "b"], {}, [])


def test_a_table_too_wide_for_the_context_is_refused_and_the_others_go_on():
    narrow, _ = _table(n=200, k=3, n_classes=2, name="narrow")
    calls = []

    def predict(prompts):
        calls.append(len(prompts))
        return ['[{"id":0,"label":1}]'] * len(prompts)

    table, _ = evaluate_icl(predict, [_wide_table(), RefusedTable("broken", "broken: empty"),
                                      narrow], [8], test_rows_per_prompt=20, max_length=4096,
                            on_too_long="fewer_shots", max_test_rows=40)
    rows = table.set_index("dataset")
    assert "needs" in rows.loc["wide70", "refused"] and "4096" in rows.loc["wide70", "refused"]
    assert rows.loc["broken", "refused"] == "broken: empty"
    assert rows.loc["narrow", "refused"] == "" and rows.loc["narrow", "n_test"] == 40
    assert calls == [2, 2]  # only the narrow table reached the model (2 prompts x 2 seeds)
    metrics = summary_metrics(table)
    assert metrics["lm_refused"] == 2.0 and metrics["tables_refused"] == 2.0
    assert metrics["tables"] == 1.0 and "lm_accuracy_at_max_shots" in metrics


def test_auc_from_probabilities_uses_the_predictor_probabilities():
    from datarecipes.tabular.evaluate import Answer

    table, _ = _table(n=150, k=3, n_classes=2)
    plan = plan_table(table, [8])
    chunks = [plan.test[c.test_pos] for c in prompt_chunks(plan, 8, 40, 50, EvalProtocolParams())]

    def predict(prompts):  # a constant label, but the probability of class 1 is the truth
        return [Answer(json.dumps([{"id": i, "label": 0} for i in range(len(rows))]),
                       [[1.0 - t, float(t)] for t in table.y[rows]]) for rows in chunks]

    votes, _ = evaluate_icl(predict, [table], [8], shuffle_seeds=[40])
    probs, _ = evaluate_icl(predict, [table], [8], shuffle_seeds=[40],
                            protocol=EvalProtocolParams(auc_from="probabilities"))
    assert votes["auc"].iloc[0] == pytest.approx(0.5)  # constant vote shares
    assert probs["auc"].iloc[0] == pytest.approx(1.0)
    assert votes["accuracy"].iloc[0] == probs["accuracy"].iloc[0]


def test_fidelity_doc_rows_hold_in_the_gpu_parameters():
    from tests.tabular.fidelity_doc import checked, gpu_parameters, lookup

    params = gpu_parameters()
    rows = checked("MachineLearningLM")
    assert len(rows) >= 35
    for setting, key, expected in rows:
        assert lookup(params, key) == expected, f"{setting}: {key}"


def test_an_unusable_csv_is_refused_in_the_report_and_the_other_tables_go_on():
    from datarecipes.pipelines.scm.nodes import (
        evaluate_baselines_node,
        load_real_tables,
        scm_report,
    )

    _, df = _table(n=120, k=3, n_classes=2)
    good = df.to_csv(index=False).encode()
    one_class = b"a,b,label\n1,2,x\n3,4,x\n5,6,x\n"
    tables = load_real_tables({"good": lambda: good, "one_class": lambda: one_class},
                              ScmParams(tables=None))
    assert isinstance(tables["one_class"], RefusedTable)
    assert "single class" in tables["one_class"].reason
    base = evaluate_baselines_node(tables, ScmParams(eval_shots=[8], baselines=["knn"]))
    table, metrics, _ = scm_report(base)
    refused = table[table["dataset"] == "one_class"]
    assert len(refused) == 1 and "single class" in refused["refused"].iloc[0]
    assert table.loc[table["dataset"] == "good", "accuracy"].notna().all()
    assert metrics["tables_refused"] == 1.0 and metrics["knn_refused"] == 1.0
