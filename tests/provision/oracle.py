"""Independent answer checks, written from the ProVision definitions and the raw SceneGraph
fields — never calling the generators' own logic. Each check gets a candidate (which says
*what* is asked: its referents) and asserts the answer the generator gave is the only
correct one."""

from __future__ import annotations

from collections import Counter

import numpy as np

from datarecipes.scenegraph import attribute_type


def box_text(b, w, h):
    return f"[{b[0] / w:.2f}, {b[1] / h:.2f}, {b[2] / w:.2f}, {b[3] / h:.2f}]"


def point_text(x, y, w, h):
    return f"[{x / w:.2f}, {y / h:.2f}]"


def split_list(text: str) -> set[str]:
    """Inverse of "a, b and c"."""
    head, _, last = text.rpartition(" and ")
    parts = [p for p in head.split(", ") if p] if head else []
    return set(parts + [last])


def attrs(g, i) -> set[str]:
    return set(g.attributes[i]) if g.attributes is not None else set()


def rels(g):
    return {(h, r, t) for h, r, t in (g.relations or []) if r != "of" and h != t}


def mode_depth(g, i):
    values = g.depth[g.masks[i]]
    if values.size == 0:
        return None
    vals, counts = np.unique(values, return_counts=True)
    return float(vals[counts.argmax()])


def _correct_set(c) -> set:
    """All values a correct multiple-choice answer may take."""
    if isinstance(c.mcq_answer, tuple):
        return set(c.mcq_answer)
    return {c.mcq_answer}


# ---- single image -----------------------------------------------------------------------
def exists_object(g, c):
    assert c.answer == g.labels.count(c.slots["label"]) > 0


def _frequency(g, c, most):
    counts = Counter(g.labels)
    values = {x: counts[x] for x in c.slots["choices"]}
    best = max(values.values()) if most else min(values.values())
    winners = [x for x, v in values.items() if v == best]
    assert winners == [c.answer]


def _extreme(g, c, axis, col, smallest):
    row = c.slots["objects"]
    counts = Counter(g.labels)
    assert all(counts[g.labels[i]] == 1 for i in row)
    lo, hi = (0, 2) if axis == "x" else (1, 3)
    for a in row:
        for b in row:
            if a < b:
                ba, bb = g.bboxes[a], g.bboxes[b]
                assert ba[lo] >= bb[hi] or bb[lo] >= ba[hi], "boxes overlap on the axis"
    vals = {i: g.bboxes[i][col] * (1 if smallest else -1) for i in row}
    best = min(vals.values())
    winners = [i for i, v in vals.items() if v == best]
    assert len(winners) == 1 and g.labels[winners[0]] == c.answer


def exists_attribute(g, c):
    want = set(c.slots["attributes"])
    n = sum(1 for i, x in enumerate(g.labels) if x == c.slots["label"] and want <= attrs(g, i))
    assert n == c.answer and n > 0


def _boxed_object(g, c):
    i = c.slots["object"]
    same = [j for j in range(len(g.labels)) if g.labels[j] == g.labels[i]
            and box_text(g.bboxes[j], g.width, g.height) == c.slots["bbox"]]
    assert same == [i]
    return i


def attribute_bbox(g, c):
    i = _boxed_object(g, c)
    assert split_list(c.answer) == attrs(g, i)
    assert _correct_set(c) <= attrs(g, i) and c.exclude == attrs(g, i)


def typed_attribute_bbox(g, c):
    i = _boxed_object(g, c)
    typed = {a for a in attrs(g, i) if attribute_type(a) == c.slots["type"]}
    assert c.slots["type"] != "other" and typed
    assert split_list(c.answer) == typed and _correct_set(c) <= typed and c.exclude == typed


def exists_relation(g, c):
    h, t = c.slots["pair"]
    assert g.labels.count(g.labels[h]) == 1 and g.labels.count(g.labels[t]) == 1
    assert (c.slots["object1"], c.slots["object2"]) == (g.labels[h], g.labels[t])
    truth = {r for a, r, b in rels(g) if (a, b) == (h, t)}
    assert split_list(c.answer) == truth and c.exclude == truth


def relation_bbox(g, c):
    h, t = c.slots["pair"]
    texts = [box_text(b, g.width, g.height) for b in g.bboxes]
    assert texts.count(c.slots["bbox1"]) == 1 and texts.index(c.slots["bbox1"]) == h
    assert texts.count(c.slots["bbox2"]) == 1 and texts.index(c.slots["bbox2"]) == t
    truth = {r for a, r, b in rels(g) if (a, b) == (h, t)}
    assert split_list(c.answer) == truth and c.exclude == truth


def head_relation(g, c):
    tail = c.slots["object2"]
    assert g.labels.count(tail) == 1
    t = g.labels.index(tail)
    heads = {g.labels[a] for a, r, b in rels(g) if b == t and r == c.slots["relation"]}
    assert heads and _correct_set(c) <= heads and c.exclude == heads
    assert c.open_ok == (len(heads) == 1)
    if c.open_ok:
        assert {c.answer} == heads
    assert not heads & set(c.pool or [])


def _point_depth(g, c, closer, threshold):
    (x1, y1), (x2, y2) = c.slots["pixels"]
    w, h = g.depth.shape[1], g.depth.shape[0]
    assert c.slots["point1"] == point_text(x1, y1, w, h)
    assert c.slots["point2"] == point_text(x2, y2, w, h)
    d1, d2 = int(g.depth[y1, x1]), int(g.depth[y2, x2])
    assert abs(d1 - d2) >= threshold and c.slots["point1"] != c.slots["point2"]
    near = c.slots["point1"] if d1 > d2 else c.slots["point2"]  # higher = closer
    far = c.slots["point2"] if d1 > d2 else c.slots["point1"]
    assert c.answer == (near if closer else far)


def _unique_separate(g, objs):
    counts = Counter(g.labels)
    assert all(counts[g.labels[i]] == 1 for i in objs)
    for a in objs:
        for b in objs:
            if a < b:
                ba, bb = g.bboxes[a], g.bboxes[b]
                sep = ba[0] >= bb[2] or bb[0] >= ba[2] or ba[1] >= bb[3] or bb[1] >= ba[3]
                assert sep, "boxes overlap"


def _object_depth(g, c, closer, threshold):
    i, j = c.slots["objects"]
    _unique_separate(g, (i, j))
    di, dj = mode_depth(g, i), mode_depth(g, j)
    assert di is not None and dj is not None and abs(di - dj) >= threshold
    near, far = (i, j) if di > dj else (j, i)
    assert c.answer == g.labels[near if closer else far]
    assert {c.slots["object1"], c.slots["object2"]} == {g.labels[i], g.labels[j]}


def _anchor_depth(g, c, closer, threshold):
    a, i, j = c.slots["objects"]
    _unique_separate(g, (a, i, j))
    da, di, dj = (mode_depth(g, k) for k in (a, i, j))
    gi, gj = abs(di - da), abs(dj - da)
    assert abs(gi - gj) >= threshold
    near, far = (i, j) if gi < gj else (j, i)
    assert c.answer == g.labels[near if closer else far]
    assert c.slots["anchor"] == g.labels[a]


def _segmentation(g, c, same):
    i = c.slots["object"]
    (ax, ay), (sx, sy), (dx, dy) = c.slots["pixels"]
    cover = g.masks.sum(axis=0)
    assert g.masks[i, ay, ax] and cover[ay, ax] == 1
    assert g.masks[i, sy, sx] and cover[sy, sx] == 1
    assert not g.masks[i, dy, dx]
    w, h = g.masks.shape[2], g.masks.shape[1]
    texts = {point_text(x, y, w, h) for x, y in ((ax, ay), (sx, sy), (dx, dy))}
    assert len(texts) == 3 and c.slots["anchor"] == point_text(ax, ay, w, h)
    want = (sx, sy) if same else (dx, dy)
    assert c.answer == point_text(*want, w, h)
    assert {c.slots["point1"], c.slots["point2"]} == texts - {c.slots["anchor"]}


def _matches(g, x, noun, d) -> bool:
    """Brute force: does object x fit description d (noun None = any label)?"""
    want, edge = d
    if noun is not None and g.labels[x] != noun:
        return False
    if not set(want) <= attrs(g, x):
        return False
    if edge is None:
        return True
    rel, direction, other, nbr_attrs = edge
    for y in range(len(g.labels)):
        if g.labels[y] != g.labels[other] or not set(nbr_attrs) <= attrs(g, y):
            continue
        if ((x, rel, y) if direction == 0 else (y, rel, x)) in rels(g):
            return True
    return False


def _unique_description(g, t, noun, d):
    hits = [x for x in range(len(g.labels)) if _matches(g, x, noun, d)]
    assert hits == [t], f"description {d} matches {hits}, not only {t}"
    if d[1] is not None:
        _, _, other, nbr_attrs = d[1]
        nbrs = [y for y in range(len(g.labels))
                if g.labels[y] == g.labels[other] and set(nbr_attrs) <= attrs(g, y)]
        assert nbrs == [other], "neighbour phrase is ambiguous"


def sg_object(g, c):
    t = c.slots["target"]
    _unique_description(g, t, None, c.slots["d"])
    assert c.answer == g.labels[t] and (c.slots["d"][0] or c.slots["d"][1])


def sg_attribute(g, c):
    t, kind = c.slots["target"], c.slots["type"]
    _unique_description(g, t, g.labels[t], c.slots["d"])
    typed = {a for a in attrs(g, t) if attribute_type(a) == kind}
    assert kind != "other" and split_list(c.answer) == typed and c.exclude == typed
    assert not typed & set(c.slots["d"][0])


def sg_relation(g, c):
    a, b = c.slots["pair"]
    da, db = c.slots["d"]
    _unique_description(g, a, g.labels[a], da)
    _unique_description(g, b, g.labels[b], db)
    truth = {r for x, r, y in rels(g) if (x, y) == (a, b)}
    assert split_list(c.answer) == truth and c.exclude == truth


def check_single(name: str, g, c, threshold: float = 50.0) -> None:
    table = {
        "ExistsObject": exists_object,
        "MostObject": lambda g, c: _frequency(g, c, True),
        "LeastObject": lambda g, c: _frequency(g, c, False),
        "LeftMostObject": lambda g, c: _extreme(g, c, "x", 0, True),
        "RightMostObject": lambda g, c: _extreme(g, c, "x", 2, False),
        "TopMostObject": lambda g, c: _extreme(g, c, "y", 1, True),
        "BottomMostObject": lambda g, c: _extreme(g, c, "y", 3, False),
        "ExistsAttribute": exists_attribute,
        "AttributeBBox": attribute_bbox,
        "TypedAttributeBBox": typed_attribute_bbox,
        "ExistsRelation": exists_relation,
        "RelationBBox": relation_bbox,
        "HeadRelation": head_relation,
        "CloserPoint": lambda g, c: _point_depth(g, c, True, threshold),
        "FartherPoint": lambda g, c: _point_depth(g, c, False, threshold),
        "CloserObject": lambda g, c: _object_depth(g, c, True, threshold),
        "FartherObject": lambda g, c: _object_depth(g, c, False, threshold),
        "CloserToAnchorObject": lambda g, c: _anchor_depth(g, c, True, threshold),
        "FartherToAnchorObject": lambda g, c: _anchor_depth(g, c, False, threshold),
        "SameObjectSeg": lambda g, c: _segmentation(g, c, True),
        "DiffObjectSeg": lambda g, c: _segmentation(g, c, False),
        "SceneGraphObjectQA": sg_object,
        "SceneGraphAttributeQA": sg_attribute,
        "SceneGraphRelationQA": sg_relation,
    }
    table[name](g, c)


# ---- multi image ------------------------------------------------------------------------
def _image_index(answer: str) -> int:
    assert answer.startswith("Image ")
    return int(answer.split()[1])


def _presence(graphs, c, has, absent):
    present = [has(g) for g in graphs]
    i = _image_index(c.answer)
    if absent:
        assert not present[i] and sum(present) == len(graphs) - 1
    else:
        assert present[i] and sum(present) == 1


def _label_attr(g, label, attr):
    return sum(1 for i, x in enumerate(g.labels) if x == label and attr in attrs(g, i))


def _triple(g, key):
    head, rel, tail = key
    return any(g.labels[a] == head and r == rel and g.labels[b] == tail for a, r, b in rels(g))


def _single(g, label):
    ids = [i for i, x in enumerate(g.labels) if x == label]
    assert len(ids) == 1
    return ids[0]


def check_multi(name: str, graphs, c) -> None:
    key = c.slots.get("key")
    if name in ("HasObject", "HasNotObject"):
        _presence(graphs, c, lambda g: key in g.labels, name.startswith("HasNot"))
    elif name in ("HasAttributedObject", "HasNotAttributedObject"):
        _presence(graphs, c, lambda g: _label_attr(g, *key) > 0, name.startswith("HasNot"))
    elif name in ("HasRelation", "HasNotRelation"):
        _presence(graphs, c, lambda g: _triple(g, key), name.startswith("HasNot"))
    elif name in ("HasMostObject", "HasLeastObject"):
        counts = [g.labels.count(c.slots["label"]) for g in graphs]
        best = max(counts) if name == "HasMostObject" else min(counts)
        assert counts.count(best) == 1 and best > 0
        assert _image_index(c.answer) == counts.index(best)
    elif name == "CountObject":
        assert c.answer == sum(g.labels.count(c.slots["label"]) for g in graphs) > 0
    elif name == "CountAttributeObject":
        total = sum(_label_attr(g, c.slots["label"], c.slots["attribute"]) for g in graphs)
        assert c.answer == total > 0
    elif name == "CommonObject":
        common = set.intersection(*(set(g.labels) for g in graphs))
        assert split_list(c.answer) == common and c.exclude == common
        assert not common & set(c.pool or [])
    elif name == "CommonAttribute":
        ids = [_single(g, c.slots["name"]) for g in graphs]
        common = set.intersection(*(attrs(g, i) for g, i in zip(graphs, ids)))
        assert split_list(c.answer) == common and c.exclude == common
    elif name == "CompareAttribute":
        label = c.slots["name"]
        sets = [frozenset(attrs(g, _single(g, label))) for g in graphs]
        assert all(sets) and len(set(sets)) == len(sets)
        for i, s in enumerate(sets):
            assert all(a in c.answer for a in s) and f"in Image {i}" in c.answer
        assert c.answer not in (c.pool or [])
    elif name == "CompareRelation":
        h, t = c.slots["object1"], c.slots["object2"]
        sets = []
        for g in graphs:
            a, b = _single(g, h), _single(g, t)
            sets.append(frozenset(r for x, r, y in rels(g) if (x, y) == (a, b)))
        assert all(sets) and len(set(sets)) == len(sets)
        assert c.answer not in (c.pool or [])
    else:
        raise KeyError(name)
