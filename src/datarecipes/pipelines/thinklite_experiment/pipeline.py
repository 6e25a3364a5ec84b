"""The ``thinklite_experiment`` pipeline: ThinkLite's selection arms × seeds at one GRPO budget.

One warm start and one MCTS difficulty table (``thinklite``'s shared nodes), then for every
arm and seed, in namespace ``thinklite_experiment.<arm>.seed_<seed>``: the run's parameters
(the arm's selection and the shared GRPO section, both with that seed) → select → GRPO →
evaluate (``thinklite``'s strategy nodes, unchanged). A last node compares every run.

The arms and seeds are read from ``conf/base/parameters_thinklite_experiment.yml`` when the
pipeline is created (a Kedro pipeline's nodes are fixed before parameters are loaded); the
comparison node refuses a run whose parameters ask for other arms or seeds.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

from kedro.pipeline import Node, Pipeline

from datarecipes.experiments.params import design
from datarecipes.pipelines.thinklite.nodes import answer_accuracy_table
from datarecipes.pipelines.thinklite.pipeline import (
    SHARED_INPUTS,
    SHARED_PARAMETERS,
    shared_nodes,
    strategy_nodes,
)
from datarecipes.pipelines.thinklite_experiment.nodes import (
    accuracy_arm_selection,
    compare_runs,
    run_key,
    run_parameters,
)

#: Parameters of the strategy nodes that each run replaces with its own (seeded) dataset.
RUN_INPUTS = {"params:hard_sample_selection": "run_selection_params",
              "params:thinklite_grpo": "run_grpo_params"}


def namespace(arm: str, seed: int) -> str:
    return f"thinklite_experiment.{arm}.seed_{seed}"


def _rewired(node: Node) -> Node:
    inputs = node._inputs  # list, str or dict, as the node was declared
    if isinstance(inputs, dict):
        inputs = {k: RUN_INPUTS.get(v, v) for k, v in inputs.items()}
    elif isinstance(inputs, str):
        inputs = RUN_INPUTS.get(inputs, inputs)
    elif inputs is not None:
        inputs = [RUN_INPUTS.get(i, i) for i in inputs]
    return node._copy(inputs=inputs)


#: The accuracy arm's per-question accuracy, sampled once for every seed (as the MCTS table is).
SHARED_ACCURACY = "thinklite_experiment_accuracy_table"


def run_pipeline(arm: str, seed: int) -> Pipeline:
    """Parameters → select → GRPO → evaluate of one arm × seed, in its namespace.

    The ``accuracy`` arm reads the shared :data:`SHARED_ACCURACY` table instead of sampling
    its own: the warm start's answer accuracy is, like its MCTS difficulty, a property of the
    shared warm start, so the arm's seeds vary its GRPO run, as they do ``mcts``'s."""
    parameters = Node(
        # update_wrapper: a bare partial has no __name__ for Kedro's logs.
        functools.update_wrapper(functools.partial(run_parameters, arm=arm, seed=seed),
                                 run_parameters),
        inputs=["params:thinklite_experiment", "params:thinklite_grpo"],
        outputs=list(RUN_INPUTS.values()),
        name="thinklite_experiment_run_parameters",
    )
    strategy = strategy_nodes().nodes
    inputs = {i: i for i in SHARED_INPUTS}
    if arm == "accuracy":
        strategy = [n for n in strategy if n.name != "thinklite_answer_accuracy"]
        inputs["thinklite_accuracy_table"] = SHARED_ACCURACY
    nodes = Pipeline([parameters] + [_rewired(n) for n in strategy])
    # Only the shared parameters these nodes read (the accuracy arm reads no params:thinklite_mcts).
    shared = {p: p for p in SHARED_PARAMETERS | {"params:thinklite_experiment"}
              if p in nodes.inputs()}
    return Pipeline(nodes, namespace=namespace(arm, seed), inputs=inputs, parameters=shared)


def accuracy_nodes() -> Pipeline:
    """The accuracy arm's table, sampled once with ``thinklite_experiment.selection.accuracy``
    (its own seed, not a run's)."""
    return Pipeline([
        Node(accuracy_arm_selection, inputs="params:thinklite_experiment",
             outputs="thinklite_experiment_accuracy_selection",
             name="thinklite_experiment_accuracy_selection"),
        Node(answer_accuracy_table,
             inputs=["thinklite_pool", "thinklite_warm_start_checkpoint",
                     "params:models.policy", "params:generation",
                     "thinklite_experiment_accuracy_selection", "params:thinklite_mcts"],
             outputs=SHARED_ACCURACY, name="thinklite_experiment_answer_accuracy"),
    ])


def create_pipeline(arms: Sequence[str] | None = None, seeds: Sequence[int] | None = None,
                    **kwargs) -> Pipeline:
    """``arms`` × ``seeds`` runs and their comparison (default: the design in conf/base)."""
    if arms is None or seeds is None:
        conf_arms, conf_seeds = design()
        arms = conf_arms if arms is None else arms
        seeds = conf_seeds if seeds is None else seeds
    comparison_inputs = {"params": "params:thinklite_experiment",
                         "warm_start_eval": "thinklite_warm_start_eval_metrics"}
    for arm in arms:
        for seed in seeds:
            ns = namespace(arm, seed)
            comparison_inputs[run_key("eval", arm, seed)] = f"{ns}.thinklite_eval_metrics"
            comparison_inputs[run_key("selection", arm, seed)] = (
                f"{ns}.thinklite_selection_metrics")
            comparison_inputs[run_key("selected", arm, seed)] = f"{ns}.thinklite_selected"
    with warnings.catch_warnings():
        # Reading the namespaces' outputs by their dotted names is the point of this node.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        comparison = Node(
            compare_runs,
            inputs=comparison_inputs,
            outputs=["thinklite_experiment_metrics", "thinklite_experiment_table",
                     "thinklite_experiment_runs_table", "thinklite_experiment_overlap_table",
                     "thinklite_experiment_means_plot", "thinklite_experiment_differences_plot",
                     "thinklite_experiment_markdown"],
            name="thinklite_experiment_compare",
        )
    runs = [run_pipeline(a, s) for a in arms for s in seeds]
    shared = shared_nodes() + (accuracy_nodes() if "accuracy" in arms else Pipeline([]))
    return shared + sum(runs, Pipeline([])) + Pipeline([comparison])
