"""The ``filtering_experiment`` pipeline: Open-Qwen2VL / MLM-Filter's claim over seeds and
kept fractions, DataComp's way.

Shared, run once: the ``filtering`` pipeline's own nodes up to the recipe's decisions (the
world, the scoring CLIP, the CLIP scores, dedup, decontamination, the rules:
``filtering_scored_pool`` and ``filtering_kept_pairs``), which pairs each arm trains on
(``unfiltered``, ``filtered``, ``top_<f>`` per kept fraction), and the pool and held-out pairs
decoded once. Then for every arm and seed, in namespace
``filtering_experiment.<arm>.seed_<seed>``: the run's ``filtering.pretrain`` (the experiment's
steps and batch size, the seed) → a CLIP from scratch on the arm's pairs → held-out
retrieval. A last node compares every run.

The seeds and kept fractions are read from ``conf/base/parameters_filtering_experiment.yml``
when the pipeline is created (a Kedro pipeline's nodes are fixed before parameters are
loaded); the comparison node refuses a run whose parameters ask for others.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

from kedro.pipeline import Node, Pipeline

from datarecipes.experiments.filtering_params import design
from datarecipes.pipelines.filtering import create_pipeline as filtering_pipeline
from datarecipes.pipelines.filtering_experiment.nodes import (
    compare_runs,
    encode_experiment_pairs,
    pretrain_arm,
    run_key,
    run_parameters,
    select_arms,
)

#: The recipe's outputs the experiment starts from (its nodes up to these run once).
RECIPE_OUTPUTS = ("filtering_pool", "filtering_heldout_pairs", "filtering_scored_pool",
                  "filtering_kept_pairs")
#: Shared inputs of every run's namespace.
SHARED_INPUTS = {"filtering_experiment_arms", "filtering_experiment_encoded_pool",
                 "filtering_experiment_encoded_heldout"}
SHARED_PARAMETERS = {"params:filtering_experiment", "params:filtering.pretrain"}


def namespace(arm: str, seed: int) -> str:
    return f"filtering_experiment.{arm}.seed_{seed}"


def shared_nodes() -> Pipeline:
    """The recipe up to its decisions, the arms' training sets and the encoded pairs."""
    recipe = filtering_pipeline().to_outputs(*RECIPE_OUTPUTS)
    return recipe + Pipeline([
        Node(select_arms, ["filtering_scored_pool", "filtering_kept_pairs",
                           "params:filtering_experiment"],
             ["filtering_experiment_arms", "filtering_experiment_selection_table",
              "filtering_experiment_selection_metrics"],
             name="filtering_experiment_select_arms"),
        Node(encode_experiment_pairs, ["filtering_pool", "filtering_heldout_pairs",
                                       "params:filtering.pretrain", "params:filtering.executor"],
             ["filtering_experiment_encoded_pool", "filtering_experiment_encoded_heldout"],
             name="filtering_experiment_encode_pairs"),
    ])


def run_pipeline(arm: str, seed: int) -> Pipeline:
    """The run's pretraining parameters → pretraining on the arm's pairs, in its namespace."""
    nodes = [
        Node(
            # update_wrapper: a bare partial has no __name__ for Kedro's logs.
            functools.update_wrapper(functools.partial(run_parameters, seed=seed),
                                     run_parameters),
            ["params:filtering_experiment", "params:filtering.pretrain"],
            "run_pretrain_params", name="filtering_experiment_run_parameters"),
        Node(
            functools.update_wrapper(functools.partial(pretrain_arm, arm=arm), pretrain_arm),
            ["filtering_experiment_encoded_pool", "filtering_experiment_encoded_heldout",
             "filtering_experiment_arms", "run_pretrain_params"],
            "pretrain_metrics", name="filtering_experiment_pretrain"),
    ]
    return Pipeline(nodes, namespace=namespace(arm, seed), inputs=SHARED_INPUTS,
                    parameters={p: p for p in SHARED_PARAMETERS})


def create_pipeline(arms: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                    **kwargs) -> Pipeline:
    """``arms`` × ``seeds`` runs and their comparison (default: the design in conf/base)."""
    if arms is None or seeds is None:
        conf_arms, conf_seeds = design()
        arms = conf_arms if arms is None else arms
        seeds = conf_seeds if seeds is None else seeds
    inputs = {"experiment": "params:filtering_experiment",
              "selection": "filtering_experiment_selection_table",
              "filters": "params:filtering.filter", "pretrain": "params:filtering.pretrain"}
    for arm in arms:
        for seed in seeds:
            inputs[run_key(arm, seed)] = f"{namespace(arm, seed)}.pretrain_metrics"
    with warnings.catch_warnings():
        # Reading the namespaces' outputs by their dotted names is the point of this node.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        comparison = Node(
            compare_runs, inputs=inputs,
            outputs=["filtering_experiment_metrics", "filtering_experiment_table",
                     "filtering_experiment_runs_table", "filtering_experiment_by_metric_table",
                     "filtering_experiment_retrieval_plot", "filtering_experiment_markdown"],
            name="filtering_experiment_compare",
        )
    runs = [run_pipeline(a, s) for a in arms for s in seeds]
    return shared_nodes() + sum(runs, Pipeline([])) + Pipeline([comparison])
