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


def test_flatten_reads_parameter_dataclasses_like_mappings():
    built = from_params(Outer, {"n": 2, "inner": {"r": 4}}, where="s")
    assert flatten({"s": built}) == {
        "s.n": 2, "s.rate": 0.5, "s.mode": "mcts", "s.names": [],
        "s.inner.r": 4, "s.inner.target_modules": "all-linear",
    }


def test_typed_parameters_builds_sections_and_sub_sections_once(monkeypatch):
    from datarecipes import hooks

    monkeypatch.setitem(hooks.PARAMETER_SECTIONS, "outer_test", Outer)
    raw = {"params:outer_test": {"n": 3, "inner": {"r": 16}},
           "params:outer_test.inner": {"r": 16}, "params:outer_test.n": 3,
           "params:untyped": {"x": 1}}
    typed = hooks.typed_parameters(sorted(raw), raw.__getitem__, {"outer_test": "p.yml"})
    assert typed["params:outer_test"] == Outer(n=3, inner=Inner(r=16))
    # A sub-section is the built section's own field: same object, validated with it.
    assert typed["params:outer_test.inner"] is typed["params:outer_test"].inner
    assert typed["params:outer_test.n"] == 3
    assert "params:untyped" not in typed
    # Built objects pass through (the hook may run twice on one catalog).
    again = hooks.typed_parameters(["params:outer_test"], typed.__getitem__, {})
    assert again["params:outer_test"] is typed["params:outer_test"]


def test_typed_parameters_checks_the_whole_section_for_a_sub_section_input(monkeypatch):
    from datarecipes import hooks

    monkeypatch.setitem(hooks.PARAMETER_SECTIONS, "outer_test", Outer)
    raw = {"params:outer_test": {"n": 3, "inner": {"r": 16}, "typo": 1},
           "params:outer_test.inner": {"r": 16}}
    with pytest.raises(ParameterError, match=r"p.yml: outer_test: unknown key\(s\) \['typo'\]"):
        hooks.typed_parameters(["params:outer_test.inner"], raw.__getitem__,
                               {"outer_test": "p.yml"})
