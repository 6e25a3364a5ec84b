"""The staged SFT schedule of ``scm_training`` (MachineLearningLM's warm-up / stage 0 / 1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from datarecipes.config import ParameterError, from_params
from datarecipes.models import ModelParams, load_model
from datarecipes.pipelines.scm.lm_nodes import train_tabular_lm
from datarecipes.tabular.params import ScmTrainingParams
from datarecipes.tabular.serialize import build_messages

STAGES = [{"name": "warmup", "learning_rate": 1e-5, "share": 0.2},
          {"name": "stage0", "learning_rate": 1e-7}, {"name": "stage1", "learning_rate": 1e-6}]


def test_stage_plan_splits_the_records_and_sets_each_stage_rate_and_warmup():
    p = from_params(ScmTrainingParams, {"per_device_train_batch_size": 1,
                                        "gradient_accumulation_steps": 8, "stages": STAGES},
                    where="test")
    plan = p.plan(1000)
    assert [(n, s.start, s.stop) for n, s, _ in plan] == [
        ("warmup", 0, 200), ("stage0", 200, 600), ("stage1", 600, 1000)]
    assert [sft.learning_rate for *_, sft in plan] == [1e-5, 1e-7, 1e-6]
    assert [sft.warmup_steps for *_, sft in plan] == [2, 3, 3]  # ceil(0.05 * 25), 0.05 * 50
    assert all(sft.num_train_epochs == 1.0 and sft.max_steps == -1 for *_, sft in plan)
    single = from_params(ScmTrainingParams, {"max_steps": 40}, where="test").plan(10)
    assert single[0][0] == "" and single[0][2].max_steps == 40  # the CPU default: one run
    with pytest.raises(ParameterError, match="shares add up"):
        from_params(ScmTrainingParams, {"stages": [{"name": "a", "learning_rate": 1.0,
                                                    "share": 0.7},
                                                   {"name": "b", "learning_rate": 1.0,
                                                    "share": 0.6}]}, where="test")


def test_stages_train_one_after_the_other_at_their_own_rates(tmp_path):
    torch.set_num_threads(2)
    base = load_model(ModelParams(preset="tiny-lm", preset_cache_dir=str(tmp_path)))
    before = {k: v.clone() for k, v in base.model.state_dict().items()}
    rng = np.random.default_rng(0)
    records = []
    for _ in range(8):
        x = rng.normal(size=(12, 3))
        y = (x[:, 0] > 0).astype(int)
        records.append({"messages": build_messages(x[:8], y[:8], x[8:], y[8:])})
    training = from_params(ScmTrainingParams, {
        "per_device_train_batch_size": 1, "gradient_accumulation_steps": 2,
        "max_length": 1024, "logging_steps": 1,
        "stages": [{"name": "a", "learning_rate": 1e-3, "share": 0.5},
                   {"name": "b", "learning_rate": 1e-12}]}, where="test")
    tuned, metrics = train_tabular_lm(base, pd.DataFrame(records), training)
    assert metrics["a_sft_examples"] == 4 and metrics["b_sft_examples"] == 4
    after = tuned.model.state_dict()
    moved = max(float((after[k].float() - before[k].float()).abs().max()) for k in before)
    assert moved > 1e-4  # stage a (lr 1e-3) changed the weights
