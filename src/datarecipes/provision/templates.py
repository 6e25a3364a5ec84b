"""Question templates: synonym expansion plus imperative forms, as ProVision's ``template.py``.

Each generator has question *sentences* (asked as is, or after "tell me", "can you tell",
"identify", "determine") and question *phrases* ("the number of cubes", used after an
imperative). ``[key]`` marks a synonym slot expanded over :data:`SYNONYMS`; ``{field}`` is
filled from the candidate when the question is rendered. Everything is expanded once at
import; rendering is one ``random.choice`` and one ``str.format``.
"""

from __future__ import annotations

import itertools
import re

SYNONYMS: dict[str, tuple[str, ...]] = {
    "among": ("among", "out of", "from", "in the list of"),
    "exist": ("exist", "are there", "are visible", "can you see", "are present"),
    "most_freq": ("the most frequent", "the most common", "the most frequently occurring"),
    "least_freq": ("the least frequent", "the least common", "the least frequently occurring"),
    "left": ("the far left", "the extreme left", "the most leftward position"),
    "right": ("the far right", "the extreme right", "the most rightward position"),
    "top": ("the very top", "the extreme top", "the most upward position"),
    "bottom": ("the very bottom", "the extreme bottom", "the most downward position"),
    "located": ("is located at", "is positioned at", "is found at"),
    "closer": ("closer", "nearer"),
    "farther": ("farther", "further away"),
    "camera": ("to the camera", "to the viewer", "to the viewpoint"),
    "images": ("in these images", "across these images", "among these images"),
    "what": ("what", "which"),
}

IMPERATIVE_SENTENCE = ("can you tell me", "tell me", "identify", "determine")
IMPERATIVE_PHRASE = ("tell me", "identify", "determine", "provide")

_SLOT = re.compile(r"\[(\w+)\]")


def _expand(structure: str) -> list[str]:
    keys = _SLOT.findall(structure)
    if not keys:
        return [structure]
    out = []
    for combo in itertools.product(*(SYNONYMS[k] for k in keys)):
        text = structure
        for key, value in zip(keys, combo):
            text = text.replace(f"[{key}]", value, 1)
        out.append(text)
    return out


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def build(sentences: list[str], phrases: list[str] = ()) -> tuple[str, ...]:
    """All prompts: each sentence bare and after each imperative, each phrase after each
    imperative (with "?" after "can you tell me", "." otherwise)."""
    out = []
    for structure in sentences:
        for s in _expand(structure):
            out.append(_cap(s) + "?")
            for imp in IMPERATIVE_SENTENCE:
                out.append(_cap(f"{imp} {s}") + "?")
    for structure in phrases:
        for p in _expand(structure):
            for imp in IMPERATIVE_PHRASE:
                out.append(_cap(f"{imp} {p}") + ".")
    return tuple(dict.fromkeys(out))


_EXTREME = {
    "LeftMostObject": "left", "RightMostObject": "right",
    "TopMostObject": "top", "BottomMostObject": "bottom",
}

TEMPLATES: dict[str, tuple[str, ...]] = {
    # -- object ------------------------------------------------------------------------
    "ExistsObject": build(
        ["how many {names} [exist]", "how many {names} are in the image",
         "what is the number of {names} in the image"],
        ["the number of {names} in the image", "how many {names} [exist]"]),
    "MostObject": build(
        ["[among] {choices}, which object is [most_freq]",
         "which object is [most_freq], [among] {choices}",
         "[what] object appears most often [among] {choices}"],
        ["[most_freq] object [among] {choices}"]),
    "LeastObject": build(
        ["[among] {choices}, which object is [least_freq]",
         "which object is [least_freq], [among] {choices}",
         "[what] object appears least often [among] {choices}"],
        ["[least_freq] object [among] {choices}"]),
    **{
        name: build(
            [f"[among] {{choices}}, which object is at [{side}]",
             f"which object is at [{side}], [among] {{choices}}",
             f"[among] {{choices}}, which one [located] [{side}]"],
            [f"the object at [{side}] [among] {{choices}}"])
        for name, side in _EXTREME.items()
    },
    # -- attribute ---------------------------------------------------------------------
    "ExistsAttribute": build(
        ["how many {names} [exist]", "what is the number of {names} in the image"],
        ["the number of {names} in the image"]),
    "AttributeBBox": build(
        ["what are the attributes of the {name} at {bbox}",
         "what attributes does the {name} at region {bbox} have",
         "how would you describe the {name} at {bbox}"],
        ["the attributes of the {name} at region {bbox}"]),
    "TypedAttributeBBox": build(
        ["what is the {type} of the {name} at {bbox}",
         "what {type} is the {name} at region {bbox}"],
        ["the {type} of the {name} at region {bbox}"]),
    # -- relation ----------------------------------------------------------------------
    "ExistsRelation": build(
        ["what is the relation between the {object1} and the {object2}",
         "how is the {object1} related to the {object2}",
         "what is the relationship of the {object1} to the {object2}"],
        ["the relation between the {object1} and the {object2}"]),
    "RelationBBox": build(
        ["what is the relation between the object at {bbox1} and the object at {bbox2}",
         "how is the object at {bbox1} related to the object at {bbox2}"],
        ["the relation between the object at {bbox1} and the object at {bbox2}"]),
    "HeadRelation": build(
        ["[what] object is {relation} the {object2}",
         "what is {relation} the {object2}"],
        ["the object that is {relation} the {object2}"]),
    # -- depth -------------------------------------------------------------------------
    "CloserPoint": build(
        ["which point is [closer] [camera], {point1} or {point2}",
         "between {point1} and {point2}, which point is [closer] [camera]"],
        ["the point [closer] [camera] between {point1} and {point2}"]),
    "FartherPoint": build(
        ["which point is [farther] from the camera, {point1} or {point2}",
         "between {point1} and {point2}, which point is [farther] from the viewer"],
        ["the point [farther] from the camera between {point1} and {point2}"]),
    "CloserObject": build(
        ["which is [closer] [camera], the {object1} or the {object2}",
         "between the {object1} and the {object2}, which one is [closer] [camera]"],
        ["the object [closer] [camera], the {object1} or the {object2}"]),
    "FartherObject": build(
        ["which is [farther] from the camera, the {object1} or the {object2}",
         "between the {object1} and the {object2}, which one is [farther] from the viewer"],
        ["the object [farther] from the camera, the {object1} or the {object2}"]),
    "CloserToAnchorObject": build(
        ["which is [closer] in depth to the {anchor}, the {object1} or the {object2}",
         "between the {object1} and the {object2}, which is [closer] to the {anchor} in depth"],
        ["the object [closer] in depth to the {anchor}, the {object1} or the {object2}"]),
    "FartherToAnchorObject": build(
        ["which is [farther] in depth from the {anchor}, the {object1} or the {object2}",
         "between the {object1} and the {object2}, which is [farther] from the {anchor} "
         "in depth"],
        ["the object [farther] in depth from the {anchor}, the {object1} or the {object2}"]),
    # -- segmentation ------------------------------------------------------------------
    "SameObjectSeg": build(
        ["which point is on the same object as {anchor}, {point1} or {point2}",
         "between {point1} and {point2}, which point lies on the same object as {anchor}"],
        ["the point on the same object as {anchor}, {point1} or {point2}"]),
    "DiffObjectSeg": build(
        ["which point is not on the same object as {anchor}, {point1} or {point2}",
         "between {point1} and {point2}, which point lies off the object at {anchor}"],
        ["the point not on the same object as {anchor}, {point1} or {point2}"]),
    # -- scene graph -------------------------------------------------------------------
    "SceneGraphObjectQA": build(
        ["what is the {description}", "what kind of object is the {description}"],
        ["the name of the {description}"]),
    "SceneGraphAttributeQA": build(
        ["what is the {type} of the {description}", "what {type} is the {description}"],
        ["the {type} of the {description}"]),
    "SceneGraphRelationQA": build(
        ["what is the relation from the {subject} to the {object}",
         "how is the {subject} related to the {object}"],
        ["the relation from the {subject} to the {object}"]),
    # -- caption (ProVision's description-only SceneGraphCaption has no prompt) ----------
    "SceneGraphCaption": build(
        ["what does this image show, object by object", "what is in this image"],
        ["a detailed description of the image, with every object's attributes and relations",
         "a dense caption of the image"]),
    # -- multi-image: select -------------------------------------------------------------
    "HasObject": build(
        ["which image has {a_name}", "in which image can you see {a_name}",
         "which image contains {a_name}"],
        ["the image that contains {a_name}"]),
    "HasNotObject": build(
        ["which image does not have {a_name}", "in which image is there no {name}",
         "which image contains no {name}"],
        ["the image that does not contain {a_name}"]),
    "HasAttributedObject": build(
        ["which image has {a_name}", "in which image can you see {a_name}"],
        ["the image that contains {a_name}"]),
    "HasNotAttributedObject": build(
        ["which image does not have {a_name}", "in which image is there no {name}"],
        ["the image that does not contain {a_name}"]),
    "HasRelation": build(
        ["in which image is {a_subject} {relation} {a_object}",
         "which image shows {a_subject} {relation} {a_object}"],
        ["the image where {a_subject} is {relation} {a_object}"]),
    "HasNotRelation": build(
        ["in which image is no {subject} {relation} {a_object}",
         "which image does not show {a_subject} {relation} {a_object}"],
        ["the image where no {subject} is {relation} {a_object}"]),
    "HasMostObject": build(
        ["which image has the most {names}",
         "which image contains the largest number of {names}"],
        ["the image with the most {names}"]),
    "HasLeastObject": build(
        ["which image has the fewest {names}",
         "which image contains the smallest number of {names}"],
        ["the image with the fewest {names}"]),
    # -- multi-image: aggregate ----------------------------------------------------------
    "CountObject": build(
        ["how many {names} are there [images]", "what is the total number of {names} [images]"],
        ["the total number of {names} [images]"]),
    "CountAttributeObject": build(
        ["how many {names} are there [images]", "what is the total number of {names} [images]"],
        ["the total number of {names} [images]"]),
    "CommonObject": build(
        ["what object appears in every one of these images",
         "which object is common to all these images"],
        ["the object that all these images have in common"]),
    "CommonAttribute": build(
        ["what attribute does the {name} have in every one of these images",
         "which attribute is shared by the {name} [images]"],
        ["the attribute the {name} has in all these images"]),
    # -- multi-image: compare ------------------------------------------------------------
    "CompareAttribute": build(
        ["how do the attributes of the {name} differ [images]",
         "what is the difference between the {name} [images]"],
        ["how the {name} differs [images]"]),
    "CompareRelation": build(
        ["how does the relation between the {object1} and the {object2} differ [images]",
         "what is the difference in how the {object1} relates to the {object2} [images]"],
        ["how the relation between the {object1} and the {object2} differs [images]"]),
}

#: Prefixes put before a multiple-choice option list (ProVision's ``mcq_template.py``).
OPTION_PREFIXES = ("Options:", "Choices:", "Select from the following options:",
                   "Choose from:", "Answer with one of the options:", "Pick one:")
