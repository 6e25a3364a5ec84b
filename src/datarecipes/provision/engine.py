"""The generation run: scene graphs → sampled, rendered question records.

One pass builds a :class:`GraphIndex` per graph and counts concepts for the rare-concept
weights (:mod:`sampling`); then each generator draws its budget of candidates per image
(per group for multi-image generators) and only the drawn ones are rendered — the reference
enumerates every candidate twice and renders before sampling. Generators with many
candidates weigh cheap keys and build only the candidates they draw (``base``). Every
random choice is drawn from a ``random.Random`` seeded by (seed, image or group,
generator), so the output does not depend on processing order and the same seed gives
identical output.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from datarecipes.provision import multi, single  # noqa: F401  (register the generators)
from datarecipes.provision.base import (
    REGISTRY,
    Candidate,
    Generator,
    GeneratorParams,
    ImageGroup,
)
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.render import Vocabulary, render
from datarecipes.provision.sampling import RareConceptWeight, concept_counts, image_groups
from datarecipes.scenegraph import SceneGraph

if TYPE_CHECKING:
    from datarecipes.provision.params import ProvisionParams

log = logging.getLogger(__name__)

#: ProVision's 24 single-image generators, in the reference's order.
SINGLE_IMAGE: tuple[str, ...] = (
    "ExistsObject", "MostObject", "LeastObject", "LeftMostObject", "RightMostObject",
    "TopMostObject", "BottomMostObject", "ExistsAttribute", "AttributeBBox",
    "TypedAttributeBBox", "ExistsRelation", "RelationBBox", "HeadRelation", "CloserPoint",
    "FartherPoint", "CloserObject", "FartherObject", "CloserToAnchorObject",
    "FartherToAnchorObject", "SameObjectSeg", "DiffObjectSeg", "SceneGraphObjectQA",
    "SceneGraphAttributeQA", "SceneGraphRelationQA",
)
#: ProVision's 14 multi-image generators.
MULTI_IMAGE: tuple[str, ...] = (
    "HasObject", "HasNotObject", "HasAttributedObject", "HasNotAttributedObject",
    "HasRelation", "HasNotRelation", "HasMostObject", "HasLeastObject", "CountObject",
    "CountAttributeObject", "CommonObject", "CommonAttribute", "CompareAttribute",
    "CompareRelation",
)
#: ProVision's description-only generator (not in "all": it writes captions, not questions).
CAPTION: tuple[str, ...] = ("SceneGraphCaption",)
assert set(SINGLE_IMAGE + MULTI_IMAGE + CAPTION) == set(REGISTRY), "generator registry out of sync"


def build_generators(names: Sequence[str] | str, settings: GeneratorParams) -> list[Generator]:
    """Generator instances by ProVision name (``"all"`` for every one)."""
    if names == "all":
        names = SINGLE_IMAGE + MULTI_IMAGE
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown generator(s) {unknown}; known: {sorted(REGISTRY)}")
    return [REGISTRY[n](settings) for n in names]


def _rng(seed: int, *parts: Any) -> random.Random:
    return random.Random("/".join([str(seed), *map(str, parts)]))


def applicable(gen: Generator, indices: ImageGroup) -> bool:
    return all(gen.needs <= index.layers for index in indices)


def _record(gen: Generator, cand: Candidate, graph: GraphIndex | ImageGroup,
            rng: random.Random, params: ProvisionParams, vocab: Vocabulary,
            images: Sequence[str], image_ids: Sequence[str], source: str, split: str,
            ) -> dict[str, Any] | None:
    mcq = rng.random() < params.mcq_fraction
    qa = render(gen, cand, graph, rng, mcq, vocab, params.generator_settings.n_choice)
    if qa is None:
        return None
    return {"image": list(images), "image_ids": list(image_ids), "generator": gen.name,
            "type": "multi" if gen.multi else "single", "source": source, "split": split,
            "image_first": rng.random() < 0.5, **qa}


def generate_questions(graphs: Mapping[str, SceneGraph], params: ProvisionParams,
                       split: str = "train", progress: bool = False) -> list[dict[str, Any]]:
    """Sampled question records for the graphs of one split (see module docstring);
    ``progress`` shows a progress bar per split."""
    gens = build_generators(params.generator_names, params.generator_settings)
    ids = sorted(graphs)
    indices = [GraphIndex(graphs[i]) for i in ids]
    vocab = Vocabulary.from_indices(indices)
    singles = [gen for gen in gens if not gen.multi]
    multis = [gen for gen in gens if gen.multi]

    disabled: Counter = Counter()
    weigh = RareConceptWeight(concept_counts(indices))

    records: list[dict[str, Any]] = []
    seen: set[tuple] = set()

    def keep(rec: dict[str, Any] | None) -> None:
        if rec is None:
            return
        key = (tuple(rec["image_ids"]), rec["question"])
        if key not in seen:
            seen.add(key)
            records.append(rec)

    for index in tqdm(indices, desc=f"provision single [{split}]", disable=not progress):
        path = index.graph.image_path or index.image_id
        source = index.graph.source or "provision"
        for gen in singles:
            if not gen.needs <= index.layers:
                disabled[gen.name] += 1
                continue
            rng = _rng(params.seed, index.image_id, gen.name)
            for cand in gen.sample(index, rng, params.budget_per_generator, weigh):
                keep(_record(gen, cand, index, rng, params, vocab, [path], [index.image_id],
                             source, split))

    groups = image_groups(len(indices), params.group_size, params.groups_per_split,
                          _rng(params.seed, "groups", split)) if multis else []
    for group_pos in tqdm(groups, desc=f"provision multi [{split}]", disable=not progress):
        group = [indices[p] for p in group_pos]
        gids = [index.image_id for index in group]
        paths = [index.graph.image_path or index.image_id for index in group]
        sources = {index.graph.source or "provision" for index in group}
        for gen in multis:
            if not applicable(gen, group):
                disabled[gen.name] += 1
                continue
            rng = _rng(params.seed, *gids, gen.name)
            for cand in gen.sample(group, rng, params.budget_per_generator, weigh):
                keep(_record(gen, cand, group, rng, params, vocab, paths, gids,
                             "+".join(sorted(sources)), split))

    for name, n in sorted(disabled.items()):
        log.info("provision [%s]: %s skipped on %d image(s)/group(s) lacking layer(s) %s",
                 split, name, n, sorted(REGISTRY[name].needs))
    return records
