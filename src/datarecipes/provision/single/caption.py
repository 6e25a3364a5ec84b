"""``SceneGraphCaption``: a dense caption written from the whole scene graph.

ProVision's ``SceneGraphCaptionGenerator`` (``single_image/scene_graph.py`` +
``scene_graph_caption.py``) is description-only: the graph is decomposed into connected
components; the isolated objects become one sentence ("there are a red cube and a ball."),
every other component is described object by object in topological order ("the red cube is
left of the ball and the cone;" ...), sentences capitalised and joined by blank lines. Repeated
objects (same label and attributes) are told apart by ordinals ("the first cube"). We follow
that structure with our text helpers and one deterministic order (components by their first
object, objects by index, relations as listed) instead of the reference's random
permutations, and since a question record needs a prompt, the caption is the answer to a
"describe the image" request (the reference's description mode has no prompt).
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import TYPE_CHECKING

from datarecipes.provision.base import Candidate, Generator
from datarecipes.provision.index import GraphIndex
from datarecipes.provision.text import article, described, join_and

if TYPE_CHECKING:

    from datarecipes.provision.base import NumberFormat

_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth")


def _components(n: int, edges: list[tuple[int, str, int]]) -> list[list[int]]:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for h, _, t in edges:
        parent[find(h)] = find(t)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(n):
        groups[find(i)].append(i)
    return sorted(groups.values(), key=lambda c: c[0])


def scene_graph_caption(index: GraphIndex) -> str:
    """The caption of one graph (see the module docstring); "" for a graph without objects."""
    n = index.n
    if n == 0:
        return ""
    edges = list(index.relations)
    names = [described(index.attrs[i], index.labels[i]) for i in range(n)]
    same: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        same[name].append(i)
    ordinal = {i: _ORDINALS[k] if k < len(_ORDINALS) else f"#{k + 1}"
               for group in same.values() if len(group) > 1 for k, i in enumerate(group)}
    mentioned: set[int] = set()

    def mention(i: int) -> str:
        if i in ordinal:
            text = f"the {ordinal[i]} {names[i]}"
        elif i in mentioned:
            text = f"the {names[i]}"
        else:
            text = article(names[i])
        mentioned.add(i)
        return text

    out_edges: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for h, rel, t in edges:
        out_edges[h].append((rel, t))
    singles, paragraphs = [], []
    for comp in _components(n, edges):
        if len(comp) == 1:
            singles.append(comp[0])
            continue
        sentences = []
        for i in comp:
            if not out_edges.get(i):
                continue
            subject = mention(i)
            by_rel: dict[str, list[int]] = defaultdict(list)
            for rel, t in out_edges[i]:
                by_rel[rel].append(t)
            parts = [f"is {rel} {join_and([mention(t) for t in targets])}"
                     for rel, targets in by_rel.items()]
            sentences.append(f"{subject} {join_and(parts)}")
        paragraphs.append(";\n".join(sentences) + ".")
    if singles:
        listed = [mention(i) for i in singles]
        be = "is" if len(listed) == 1 else "are"
        paragraphs.insert(0, f"there {be} {join_and(listed)}.")
    return "\n\n".join(p[:1].upper() + p[1:] for p in paragraphs)


class SceneGraphCaption(Generator):
    """Describe the image: the whole scene graph as a dense caption (open-ended only)."""

    name, family = "SceneGraphCaption", "caption"

    def enumerate(self, index: GraphIndex, rng: random.Random) -> list[Candidate]:
        caption = scene_graph_caption(index)
        return (
            [
                self.candidate(
                    {}, caption, meta=tuple(("object", x) for x in sorted(set(index.labels)))
                )
            ]
            if caption
            else []
        )

    def steps(self, cand: Candidate, index: GraphIndex, format_number: NumberFormat) -> list[str]:
        return [
            f"The image shows {index.n} object{'s' if index.n != 1 else ''}; I describe each with "
            "its attributes and relations."
        ]
