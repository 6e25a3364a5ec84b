"""The ``thinklite_ablation`` pipeline: one warm start and one MCTS difficulty table, then
select → GRPO → evaluate once per strategy (Kedro namespace = strategy name), and a comparison.

Each namespace reads its selection settings from ``params:thinklite_ablation.<strategy>``
(``parameters_thinklite_ablation.yml``; the start-up hook checks the whole section, so the
strategies' shared threshold is enforced before anything runs) and shares everything else
(models, GRPO, evaluation), so the strategies differ only in which questions GRPO trains on.
Outputs are namespaced (``mcts.thinklite_eval_metrics``, logged as
``mcts.thinklite_eval.accuracy``).
"""

from __future__ import annotations

import warnings

from kedro.pipeline import Node, Pipeline

from datarecipes.pipelines.thinklite.nodes import compare_strategies
from datarecipes.pipelines.thinklite.pipeline import (
    SHARED_INPUTS,
    SHARED_PARAMETERS,
    shared_nodes,
    strategy_nodes,
)
from datarecipes.thinklite import ABLATION_STRATEGIES


def strategy_pipeline(strategy: str) -> Pipeline:
    """The strategy nodes in namespace ``strategy``."""
    parameters = {p: p for p in SHARED_PARAMETERS}
    parameters["params:hard_sample_selection"] = f"params:thinklite_ablation.{strategy}"
    return Pipeline(
        strategy_nodes(), namespace=strategy, inputs=SHARED_INPUTS, parameters=parameters
    )


def create_pipeline(**kwargs) -> Pipeline:
    comparison_inputs = {"warm_start_eval": "thinklite_warm_start_eval_metrics"}
    for strategy in ABLATION_STRATEGIES:
        comparison_inputs[f"{strategy}_selection"] = f"{strategy}.thinklite_selection_metrics"
        comparison_inputs[f"{strategy}_eval"] = f"{strategy}.thinklite_eval_metrics"
    with warnings.catch_warnings():
        # Reading the namespaces' outputs by their dotted names is the point of this node;
        # Kedro warns about any dotted name used outside a namespace.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        comparison = Node(
            compare_strategies,
            inputs=comparison_inputs,
            outputs=["thinklite_ablation_metrics", "thinklite_ablation_plot"],
            name="thinklite_compare_strategies",
        )
    strategies = [strategy_pipeline(s) for s in ABLATION_STRATEGIES]
    return shared_nodes() + sum(strategies, Pipeline([])) + Pipeline([comparison])
