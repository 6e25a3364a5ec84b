"""The ``scm_experiment`` pipeline: MachineLearningLM's SCM-prior fine-tuning over seeds.

Shared: the real tables (``scm``'s loader) and the held-out prior tables. Then for every seed,
in namespace ``scm_experiment.seed_<seed>``: the seed's parameters → a fresh base LM (the
trainer changes the model it is given, so no seed may start from another's weights) → prior
tasks → SFT corpus → training → the LM and the baselines on the held-out prior tables and on
the real tables → per-suite report (``scm``'s nodes, unchanged). A last node compares seeds;
another counts how often the LM answered a whole prompt set with one label.

The seeds are read from ``conf/base/parameters_scm_experiment.yml`` when the pipeline is
created (a Kedro pipeline's nodes are fixed before parameters are loaded); the comparison
node refuses a run whose parameters ask for other seeds.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

from kedro.pipeline import Node, Pipeline

from datarecipes.experiments.scm_params import design
from datarecipes.pipelines.scm.lm_nodes import (
    evaluate_tabular_lm,
    prepare_tabular_lm,
    train_tabular_lm,
)
from datarecipes.pipelines.scm.nodes import (
    build_sft_corpus,
    evaluate_baselines_node,
    generate_prior_tasks,
    load_real_tables,
    real_tables_report,
    scm_report,
)
from datarecipes.pipelines.scm_experiment.nodes import (
    SUITES,
    compare_seeds,
    heldout_prior_tables,
    lm_answer_spread,
    run_key,
    run_parameters,
)

#: The shared inputs of every seed's namespace: suite → its tables.
TABLES = {"heldout_prior": "scm_experiment_heldout_tables",
          "real_tables": "scm_experiment_tables"}
#: Parameters every seed reads as they are (the seed replaces its copies of the others).
SHARED_PARAMETERS = {"params:scm_experiment", "params:scm", "params:scm_training",
                     "params:scm_generation", "params:models.tabular_lm"}


def namespace(seed: int) -> str:
    return f"scm_experiment.seed_{seed}"


def shared_nodes() -> Pipeline:
    return Pipeline([
        Node(load_real_tables, ["scm_real_tables", "params:scm"], TABLES["real_tables"],
             name="scm_experiment_load_real_tables"),
        Node(real_tables_report, TABLES["real_tables"], "scm_experiment_input_table",
             name="scm_experiment_input_report"),
        Node(heldout_prior_tables, ["params:scm_experiment", "params:scm"],
             TABLES["heldout_prior"], name="scm_experiment_heldout_prior_tables"),
    ])


def _suite_nodes(suite: str) -> list[Node]:
    """LM and baselines on one suite's tables, and their report (``scm_<suite>_*``)."""
    tables = TABLES[suite]
    return [
        Node(evaluate_tabular_lm, [tables, "scm_tabular_lm", "run_eval_params",
                                   "params:scm_generation"],
             [f"scm_{suite}_lm_table", f"scm_{suite}_lm_predictions"],
             name=f"scm_experiment_evaluate_lm_{suite}"),
        Node(evaluate_baselines_node, [tables, "run_eval_params"],
             f"scm_{suite}_baseline_table", name=f"scm_experiment_baselines_{suite}"),
        Node(scm_report, [f"scm_{suite}_baseline_table", f"scm_{suite}_lm_table"],
             [f"scm_{suite}_eval_table", f"scm_{suite}_metrics", f"scm_{suite}_accuracy_plot"],
             name=f"scm_experiment_report_{suite}"),
    ]


def seed_pipeline(seed: int) -> Pipeline:
    """One seed's parameters → base LM → prior → corpus → LoRA/SFT → evaluation, namespaced."""
    parameters = Node(
        # update_wrapper: a bare partial has no __name__ for Kedro's logs.
        functools.update_wrapper(functools.partial(run_parameters, seed=seed), run_parameters),
        inputs=["params:scm_experiment", "params:scm", "params:scm_training"],
        outputs=["run_scm_params", "run_eval_params", "run_training_params"],
        name="scm_experiment_run_parameters",
    )
    nodes = [
        parameters,
        Node(prepare_tabular_lm, "params:models.tabular_lm", ["scm_base_lm", "scm_lm_tokenizer"],
             name="scm_experiment_prepare_tabular_lm"),
        Node(generate_prior_tasks, "run_scm_params",
             ["scm_prior_tasks", "scm_task_configs", "scm_prior_metrics"],
             name="scm_experiment_generate_prior_tasks"),
        Node(build_sft_corpus, ["scm_prior_tasks", "run_scm_params", "scm_lm_tokenizer"],
             ["scm_sft_records", "scm_sft_records_val"], name="scm_experiment_build_sft_corpus"),
        Node(train_tabular_lm, ["scm_base_lm", "scm_sft_records", "run_training_params"],
             ["scm_tabular_lm", "scm_training_metrics"], name="scm_experiment_train_tabular_lm"),
    ]
    for suite in SUITES:
        nodes += _suite_nodes(suite)
    return Pipeline(nodes, namespace=namespace(seed), inputs=set(TABLES.values()),
                    parameters={p: p for p in SHARED_PARAMETERS})


def create_pipeline(seeds: Sequence[int] | None = None, **kwargs) -> Pipeline:
    """The seeds' runs and their comparison (default: the seeds in conf/base)."""
    seeds = design() if seeds is None else list(seeds)
    inputs = {"experiment": "params:scm_experiment"}
    spread_inputs = dict(inputs)
    for seed in seeds:
        for suite in SUITES:
            inputs[run_key(suite, seed)] = f"{namespace(seed)}.scm_{suite}_eval_table"
            spread_inputs[run_key(suite, seed)] = f"{namespace(seed)}.scm_{suite}_lm_predictions"
    with warnings.catch_warnings():
        # Reading the namespaces' outputs by their dotted names is the point of this node.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        comparison = Node(
            compare_seeds, inputs=inputs,
            outputs=["scm_experiment_metrics", "scm_experiment_curve_table",
                     "scm_experiment_differences_table", "scm_experiment_points_table",
                     "scm_experiment_excluded_table", "scm_experiment_accuracy_plot",
                     "scm_experiment_markdown"],
            name="scm_experiment_compare",
        )
        spread = Node(
            lm_answer_spread, inputs=spread_inputs,
            outputs=["scm_experiment_answer_spread_metrics", "scm_experiment_answer_spread_table"],
            name="scm_experiment_answer_spread",
        )
    runs = [seed_pipeline(s) for s in seeds]
    return shared_nodes() + sum(runs, Pipeline([])) + Pipeline([comparison, spread])
