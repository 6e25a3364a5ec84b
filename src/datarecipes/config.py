"""Strict parameter sections: YAML parameters map one to one onto frozen dataclasses.

Every pipeline's ``parameters_<name>.yml`` section is turned into a dataclass with
:func:`from_params` when its first node runs (and by :func:`validate_all` when a run starts),
so an unknown key, a wrong type or an impossible value fails loudly, naming the key, before
anything is written.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

#: Parameter section name (the top-level key in ``parameters_<pipeline>.yml``) → dataclass.
#: Filled by :func:`parameters_section`; the project hook validates every section a run's
#: nodes consume before the first node runs.
PARAMETER_SECTIONS: dict[str, type] = {}


def parameters_section(name: str):
    """Class decorator: register ``cls`` as the schema of parameter section ``name``."""

    def register(cls: type[T]) -> type[T]:
        PARAMETER_SECTIONS[name] = cls
        return cls

    return register


class ParameterError(ValueError):
    """A parameter is unknown, missing, of the wrong type or out of range."""


def _check_type(value: Any, annotation: Any, where: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        candidates = [arg for arg in args if arg is not type(None)]
        errors: list[ParameterError] = []
        for arg in candidates:
            try:
                return _check_type(value, arg, where)
            except ParameterError as err:
                errors.append(err)
        if len(errors) == 1:  # Optional[X]: X's own message is the useful one
            raise errors[0]
        raise ParameterError(f"{where}: {value!r} matches none of {annotation}")
    if origin is typing.Literal:
        if value not in args:
            raise ParameterError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if dataclasses.is_dataclass(annotation):
        return from_params(annotation, value, where)
    if origin in (list, tuple, collections.abc.Sequence):
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{where}: expected a list, got {type(value).__name__}")
        item = args[0] if args else Any
        checked = [_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(checked) if origin is tuple else checked
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, Mapping):
            raise ParameterError(f"{where}: expected a mapping, got {type(value).__name__}")
        vtype = args[1] if len(args) == 2 else Any
        return {k: _check_type(v, vtype, f"{where}.{k}") for k, v in value.items()}
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"{where}: expected true or false, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ParameterError(f"{where}: expected a string, got {value!r}")
        return value
    return value



def from_params(cls: type[T], params: Mapping[str, Any] | None, where: str) -> T:
    """Build dataclass ``cls`` from a parameters mapping, refusing unknown keys.

    ``where`` names the section (e.g. ``"parameters_scenes.yml: scenes"``) and prefixes every
    error. After construction the dataclass's own ``__post_init__`` checks ranges.
    """
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParameterError(f"{where}: expected a mapping, got {type(params).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise ParameterError(
            f"{where}: unknown key(s) {unknown}; allowed keys are {sorted(fields)}"
        )
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in params.items():
        kwargs[name] = _check_type(value, hints[name], f"{where}.{name}")
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
    ]
    if missing:
        raise ParameterError(f"{where}: missing required key(s) {missing}")
    try:
        return cls(**kwargs)
    except ParameterError as err:
        raise ParameterError(f"{where}: {err}") from None


def require(condition: bool, message: str) -> None:
    """Raise :class:`ParameterError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ParameterError(message)
