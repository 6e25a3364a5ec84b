"""Strict parameter sections: unknown keys, wrong types and bad ranges fail, naming the key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from datarecipes.config import ParameterError, from_params, require
from datarecipes.hooks import flatten


@dataclass(frozen=True)
class Inner:
    r: int = 8
    target_modules: str | list[str] = "all-linear"


@dataclass(frozen=True)
class Outer:
    n: int
    rate: float = 0.5
    mode: Literal["mcts", "random"] = "mcts"
    names: list[str] = field(default_factory=list)
    inner: Inner | None = None

    def __post_init__(self) -> None:
        require(self.n >= 0, f"n must be >= 0, got {self.n}")


def test_builds_nested_dataclasses_and_coerces_ints_to_floats():
    cfg = from_params(Outer, {"n": 3, "rate": 1, "inner": {"r": 4}}, where="p.yml: outer")
    assert cfg.rate == 1.0 and isinstance(cfg.rate, float)
    assert cfg.inner == Inner(r=4)


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"n": 1, "colour": "red"}, "unknown key(s) ['colour']"),
        ({}, "missing required key(s) ['n']"),
        ({"n": "three"}, "p.yml: outer.n: expected an integer"),
        ({"n": True}, "outer.n: expected an integer"),
        ({"n": 1, "mode": "greedy"}, "outer.mode: 'greedy' is not one of"),
        ({"n": 1, "names": "abc"}, "outer.names: expected a list"),
        ({"n": 1, "inner": {"r": 2, "alpha": 3}}, "outer.inner: unknown key(s) ['alpha']"),
        ({"n": -2}, "n must be >= 0, got -2"),
    ],
)
def test_errors_name_the_key(params, fragment):
    with pytest.raises(ParameterError) as err:
        from_params(Outer, params, where="p.yml: outer")
    assert fragment in str(err.value)


def test_flatten_uses_dotted_keys():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": "x",
    }
