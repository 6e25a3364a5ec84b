"""Nodes of the ProVision pipeline: they only wire ``datarecipes.provision``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from datarecipes import ledger as ledgers
from datarecipes.annotations.validate import ValidationParams, report_dict, validate_graphs
from datarecipes.provision import assign_ids, generate_questions, to_conversation, to_table
from datarecipes.provision.dedup import (
    ProvisionDedupParams,
    dedup_questions,
    dedup_rows,
    provision_ledger,
)
from datarecipes.provision.params import ProvisionParams
from datarecipes.provision.stats import generator_plot, question_metrics
from datarecipes.scenegraph import SceneGraph

log = logging.getLogger(__name__)


def split_graphs(scene_graphs: Mapping[str, SceneGraph],
                 scene_metadata: pd.DataFrame) -> dict[str, dict[str, SceneGraph]]:
    """Graphs by split, from the metadata's ``image_id``/``split`` columns."""
    missing_cols = {"image_id", "split"} - set(scene_metadata.columns)
    if missing_cols:
        raise ValueError(f"scene_metadata lacks column(s) {sorted(missing_cols)}")
    split_of = dict(zip(scene_metadata["image_id"].astype(str), scene_metadata["split"]))
    unassigned = sorted(set(scene_graphs) - set(split_of))
    if unassigned:
        raise ValueError(f"scene_metadata has no split for {len(unassigned)} scene graph(s), "
                         f"e.g. {unassigned[:5]}")
    absent = set(split_of) - set(scene_graphs)
    if absent:
        log.warning("provision: %d metadata row(s) have no scene graph, e.g. %s",
                    len(absent), sorted(absent)[:5])
    out: dict[str, dict[str, SceneGraph]] = {}
    for image_id, graph in scene_graphs.items():
        out.setdefault(str(split_of[image_id]), {})[image_id] = graph
    return out


def select_scene_source(
    scene_graphs: Mapping[str, SceneGraph],
    scene_metadata: pd.DataFrame,
    provision_source: Mapping[str, SceneGraph] | None,
    provision_splits_source: pd.DataFrame | None,
) -> tuple[dict[str, SceneGraph], pd.DataFrame, dict[str, float]]:
    """The scene graphs ProVision runs on, their splits and ``provision_input_metrics``.

    Without a source (``provision_source`` not given) the built-in world and its metadata's
    splits, unchanged. With one: the user's graphs, every image ``train`` unless a splits file
    (``provision_splits_source``) assigns them; an image that file leaves out is refused
    (naming it), so no image silently changes split.
    """
    if provision_source is None:
        if provision_splits_source is not None:
            raise ValueError("provision_splits_source is given but provision_source is not: "
                             "the built-in world has its own splits")
        graphs, splits = dict(scene_graphs), scene_metadata[["image_id", "split"]].copy()
        source = "world"
    else:
        graphs = dict(provision_source)
        if provision_splits_source is None:
            splits = pd.DataFrame({"image_id": list(graphs), "split": "train"})
        else:
            splits = provision_splits_source
            unassigned = sorted(set(graphs) - set(splits["image_id"].astype(str)))
            if unassigned:
                raise ValueError(
                    f"provision_splits_source assigns no split to {len(unassigned)} of the "
                    f"{len(graphs)} images, e.g. {unassigned[:5]}; list every image (or give "
                    "no splits file: every image is then train)"
                )
        source = "user"
    splits = splits.assign(image_id=splits["image_id"].astype(str))
    per_split = splits[splits["image_id"].isin(list(graphs))]["split"].value_counts()
    metrics = {"images": float(len(graphs)), "user_source": float(source == "user"),
               **{f"images/{k}": float(v) for k, v in sorted(per_split.items())}}
    log.info("provision: %d scene graphs from the %s (%s)", len(graphs),
             "user's source" if source == "user" else "built-in world",
             ", ".join(f"{k}: {v}" for k, v in sorted(per_split.items())))
    return graphs, splits.reset_index(drop=True), metrics


def validate_scene_graphs(scene_graphs: Mapping[str, SceneGraph], validation: ValidationParams
                          ) -> tuple[dict[str, SceneGraph], dict[str, Any]]:
    """Scene graphs as they enter ProVision, checked (``annotations.validate``): labels
    normalised, duplicate detections merged, bad boxes refused per object; and the report."""
    graphs, report = validate_graphs(scene_graphs, validation)
    return graphs, report_dict(report)


def generate_provision_questions(scene_graphs: Mapping[str, SceneGraph],
                                 scene_metadata: pd.DataFrame,
                                 provision: ProvisionParams) -> tuple[pd.DataFrame, list[dict]]:
    """Questions per split (an image's questions inherit its split; multi-image questions
    group images of one split): the question table and LLaVA conversations."""
    records: list[dict[str, Any]] = []
    for split, graphs in sorted(split_graphs(scene_graphs, scene_metadata).items()):
        records += generate_questions(graphs, provision, split=split, progress=True)
    assign_ids(records)
    log.info("provision: %d questions from %d scene graphs", len(records), len(scene_graphs))
    return to_table(records), [to_conversation(r) for r in records]


def provision_stats(questions: pd.DataFrame, validation: Mapping[str, Any] | None = None
                    ) -> tuple[dict[str, float], Figure]:
    """``provision_metrics`` (with the validation counts, ``validation_*``) and
    ``provision_generator_plot``."""
    metrics = question_metrics(questions)
    for key, value in (validation or {}).items():
        if isinstance(value, (int, float)):
            metrics[f"validation_{key}"] = float(value)
    return metrics, generator_plot(questions)


def dedup_provision_questions(questions: pd.DataFrame, conversations: list[dict],
                              validation: Mapping[str, Any] | None,
                              dedup: ProvisionDedupParams,
                              ) -> tuple[pd.DataFrame, list[dict], pd.DataFrame,
                                         dict[str, float], Figure]:
    """Near-identical questions (same image(s), same answer, MinHash Jaccard at or above
    ``provision_dedup.text.threshold``) dropped as recorded decisions: the kept questions and
    conversations, ``provision_ledger`` (validation's per-object decisions and the question
    dedup), its per-stage counts and the funnel plot."""
    dups = dedup_questions(questions, dedup)
    stage = dedup_rows(dups, questions, dedup)
    ledger = provision_ledger(validation, stage)
    keep_ids = set(stage.loc[stage["kept"], "sample_id"])
    kept = questions[questions["id"].astype(str).isin(keep_ids).to_numpy()].reset_index(drop=True)
    kept_conversations = [c for c in conversations if str(c["id"]) in keep_ids]
    metrics = ledgers.stage_metrics(ledger, prefix="stage")
    dropped = questions.loc[~questions["id"].astype(str).isin(keep_ids), "generator"]
    metrics |= {f"dropped_by_generator/{g}": float(n)
                for g, n in dropped.value_counts().sort_index().items()}
    log.info("provision: %d near-identical question(s) of %d %s", int(dups["dup.minhash"].sum()),
             len(questions), "dropped" if dedup.action == "drop" else "flagged")
    return kept, kept_conversations, ledger, metrics, ledgers.funnel_figure(
        ledger, title="ProVision: objects and questions per stage")
