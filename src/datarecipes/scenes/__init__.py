"""The scenes world: seeded 2.5D object scenes with full ProVision-format annotations.

Split by concept: ``params`` (the parameter section), ``vocabulary`` and ``shapes`` (what the
renderer draws), ``layout`` (placing objects), ``relations`` (the spatial rules),
``render`` (pixels, depth, masks), ``captions`` (true and corrupted captions) and ``world``
(N scenes, splits, metadata).
"""

from datarecipes.scenes.params import ScenesParams
from datarecipes.scenes.relations import PREDICATES, derive_relations, relation_holds
from datarecipes.scenes.world import SceneWorld, generate_world, summarise_world

__all__ = [
    "PREDICATES",
    "SceneWorld",
    "ScenesParams",
    "derive_relations",
    "generate_world",
    "relation_holds",
    "summarise_world",
]
