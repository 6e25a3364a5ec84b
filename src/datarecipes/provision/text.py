"""Text formatting shared by every generator: numbers, boxes, points, lists, plurals.

ProVision writes boxes and points as ratios of the image width/height with two decimals
(``utils.bbox_coordinate_to_ratio``); counts appear either as digits or as words. These
helpers are the one place that formatting lives, so a question, its options and its
step-by-step solution always spell a value the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from datarecipes.scenegraph import attribute_type

_NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)

#: Mass nouns that cannot be counted ("how many grass?"); ProVision skips them in counting
#: questions (``utils.check_object_for_counting_task``).
UNCOUNTABLE: frozenset[str] = frozenset({
    "sky", "grass", "water", "ground", "snow", "sand", "floor", "road", "wall", "field",
    "dirt", "ceiling", "sea", "ocean", "air", "fog", "smoke", "hair", "furniture", "clothing",
})


def countable(label: str, vocabulary: str = "stoplist") -> bool:
    """Whether ``label`` can be counted in a "how many" question.

    ``stoplist`` (ours): every label but the mass nouns of :data:`UNCOUNTABLE`; ``reference``:
    only the labels of ProVision's allowlist (``utils.check_object_for_counting_task``; a
    label it does not list is not countable), which leaves most detector vocabularies out.
    """
    if vocabulary == "reference":
        from datarecipes.provision.counting_vocabulary import REFERENCE_COUNTABLE_LOWER

        return label.lower() in REFERENCE_COUNTABLE_LOWER
    return label.lower() not in UNCOUNTABLE


def number_text(n: int, as_word: bool) -> str:
    """``n`` as a digit string, or as an English word when ``as_word`` and n ≤ 20."""
    if as_word and 0 <= n < len(_NUMBER_WORDS):
        return _NUMBER_WORDS[n]
    return str(n)


def count_distractors(count: int) -> list[int]:
    """ProVision's count options: ``[c, c-1, c+1, c+2]``, or ``[1, 2, 3, 4]`` when c = 1."""
    if count <= 1:
        return [1, 2, 3, 4] if count == 1 else [0, 1, 2, 3]
    return [count, count - 1, count + 1, count + 2]


_IRREGULAR = {"person": "people", "man": "men", "woman": "women", "child": "children",
              "foot": "feet", "mouse": "mice", "tooth": "teeth", "goose": "geese"}


def plural(noun: str) -> str:
    """A small English pluraliser for object names (last word inflected)."""
    head, _, last = noun.rpartition(" ")
    low = last.lower()
    if low in _IRREGULAR:
        word = _IRREGULAR[low]
    elif low.endswith(("s", "x", "z", "ch", "sh")):
        word = last + "es"
    elif low.endswith("y") and len(low) > 1 and low[-2] not in "aeiou":
        word = last[:-1] + "ies"
    else:
        word = last + "s"
    return f"{head} {word}" if head else word


def counted(n: int, noun: str, as_word: bool = False) -> str:
    """``"2 cubes"`` / ``"one sphere"``."""
    return f"{number_text(n, as_word)} {noun if n == 1 else plural(noun)}"


def join_and(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


def box_ratio(box: Sequence[float], width: int, height: int) -> str:
    """A pixel box ``[x0, y0, x1, y1]`` as 2-decimal ratios of width/height."""
    x0, y0, x1, y1 = box
    return (f"[{x0 / width:.2f}, {y0 / height:.2f}, "
            f"{x1 / width:.2f}, {y1 / height:.2f}]")


def point_ratio(x: int, y: int, width: int, height: int) -> str:
    """A pixel point ``(x, y)`` as 2-decimal ratios of width/height."""
    return f"[{x / width:.2f}, {y / height:.2f}]"


_TYPE_RANK = {"size": 0, "color": 1, "material": 2, "shape": 3}


def order_attributes(attributes: Sequence[str]) -> tuple[str, ...]:
    """Attributes in English adjective order (size, colour, material, shape, others)."""
    return _ordered(tuple(attributes))


@lru_cache(maxsize=65536)
def _ordered(attributes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(attributes, key=lambda a: (_TYPE_RANK.get(attribute_type(a), 9), a)))


def described(attributes: Sequence[str], noun: str) -> str:
    """``"small red metal cube"``: the attributes in adjective order before the noun."""
    return " ".join([*order_attributes(attributes), noun]) if attributes else noun


def article(phrase: str) -> str:
    """``"a cube"`` / ``"an apple"``."""
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase
