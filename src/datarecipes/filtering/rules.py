"""Filter expressions over score columns: a small safe language (no ``eval``) and presets.

Grammar (``!`` binds tighter than ``&``, which binds tighter than ``|``)::

    expr    := and ('|' and)*
    and     := unary ('&' unary)*
    unary   := '!' unary | primary
    primary := '(' expr ')'
             | 'top' '(' NAME ',' NUMBER [',' expr] ')'  # the top fraction of rows by NAME
             | NAME CMP NUMBER                   # CMP is one of >= > <= < == !=
             | NAME                              # a definition, a preset or a boolean column

``NAME`` may be dotted, as the dedup and decontamination columns are (``dup.phash``,
``dup_distance.minhash``, ``contaminated.heldout``; see :mod:`datarecipes.dedup`).

A bare ``NAME`` is looked up first in the definitions passed in (parameters), then in
:data:`PRESETS`, and otherwise read as a boolean column of the score table (e.g. a released
DFN uid list turned into a column, or ``dup.phash``). A bare column that is not boolean (nor
0/1) is refused: ``dup_cluster.phash`` alone would otherwise read "cluster id != 0".

``top(clip, 0.7)`` ranks every row with a CLIP score; ``top(clip, 0.7, !dup.phash)`` ranks
only the rows where the third argument holds (the others are not kept), so it keeps 70 % of
the non-duplicates, where ``!dup.phash & top(clip, 0.7)`` keeps the non-duplicates among the
top 70 % of all rows.

A row whose score is missing (a failed decode or an unparseable MLLM answer: ``NaN``) is
*unknown* for every comparison on that score, and unknowns follow SQL's three-valued logic:
``x | unknown`` is true when ``x`` is, ``x & unknown`` false when ``x`` is, ``!unknown`` is
unknown, and a row is kept only when its expression is known and true. So ``su>=85 | dfn``
keeps a DFN-selected row whose SU score failed to parse, while ``!(clip<0.2)`` never keeps a
row without a CLIP score (MLM-Filter likewise counts only ``status == "success"`` scores).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from datarecipes.config import ParameterError

#: The reference combinations (methods.md §4).
PRESETS: dict[str, str] = {
    # Open-Qwen2VL: MLM-Filter SU >= 85, unioned with the DFN-selected subset.
    "open_qwen2vl": "su >= 85 | dfn",
    # MLM-Filter's best CLIP-training subset: ITM >= 66 AND ODF >= 20.
    "mlm_filter_best": "itm >= 66 & odf >= 20",
    # Open-Qwen2VL's laion2b rule: CLIP ViT-B/32 similarity >= 0.28.
    "laion2b_clip": "clip >= 0.28",
}

_COMPARISONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
    "==": operator.eq, "!=": operator.ne,
}
_TOKEN = re.compile(
    r"\s*(?:(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<op>>=|<=|==|!=|[<>&|!(),]))"
)

#: (value, known): a rule's truth per row and whether it is determined.
Truth = tuple[np.ndarray, np.ndarray]


class RuleError(ParameterError):
    """A filter expression does not parse or refers to an unknown column."""


@dataclass(frozen=True)
class Compare:
    column: str
    op: str
    threshold: float

    def evaluate(self, table: pd.DataFrame) -> Truth:
        scores = _numeric(table, self.column)
        known = ~np.isnan(scores)
        with np.errstate(invalid="ignore"):
            return _COMPARISONS[self.op](scores, self.threshold) & known, known


@dataclass(frozen=True)
class Top:
    column: str
    fraction: float
    where: Rule | None = None

    def evaluate(self, table: pd.DataFrame) -> Truth:
        scores = _numeric(table, self.column)
        known = ~np.isnan(scores)
        eligible = known
        if self.where is not None:
            # Rows where the condition is known false are known not kept; unknown, unknown.
            in_value, in_known = self.where.evaluate(table)
            eligible = known & in_value & in_known
            known = (known & in_known) | (in_known & ~in_value)
        keep = np.zeros(len(scores), dtype=bool)
        candidates = np.flatnonzero(eligible)
        k = math.ceil(self.fraction * len(candidates))
        # Stable sort on the negated score: ties keep table order, so results are reproducible.
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        keep[order[:k]] = True
        return keep, known


@dataclass(frozen=True)
class Column:
    column: str

    def evaluate(self, table: pd.DataFrame) -> Truth:
        if self.column not in table:
            raise RuleError(f"unknown column {self.column!r}; columns are {list(table.columns)}")
        values = table[self.column]
        known = values.notna().to_numpy()
        present = values[known]
        boolean = pd.api.types.is_bool_dtype(values) or (
            len(present) == 0 or all(isinstance(v, (bool, np.bool_)) for v in present)
            or (pd.api.types.is_numeric_dtype(values) and present.isin([0, 1]).all()))
        if not boolean:
            raise RuleError(
                f"column {self.column!r} is not boolean (e.g. {present.iloc[0]!r}); compare it "
                f"instead, e.g. '{self.column} >= ...'")
        return values.where(known, False).astype(bool).to_numpy() & known, known


@dataclass(frozen=True)
class Not:
    child: Rule

    def evaluate(self, table: pd.DataFrame) -> Truth:
        value, known = self.child.evaluate(table)
        return ~value & known, known


@dataclass(frozen=True)
class And:
    left: Rule
    right: Rule

    def evaluate(self, table: pd.DataFrame) -> Truth:
        (lv, lk), (rv, rk) = self.left.evaluate(table), self.right.evaluate(table)
        known = (lk & rk) | (lk & ~lv) | (rk & ~rv)
        return lv & rv & known, known


@dataclass(frozen=True)
class Or:
    left: Rule
    right: Rule

    def evaluate(self, table: pd.DataFrame) -> Truth:
        (lv, lk), (rv, rk) = self.left.evaluate(table), self.right.evaluate(table)
        known = (lk & rk) | (lk & lv) | (rk & rv)
        return ((lv & lk) | (rv & rk)) & known, known


Rule = Compare | Top | Column | Not | And | Or


def _numeric(table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table:
        raise RuleError(f"unknown column {column!r}; columns are {list(table.columns)}")
    return pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise RuleError(f"unexpected character {text[pos:].lstrip()[:1]!r} at column {pos + 1}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, definitions: Mapping[str, str], stack: tuple[str, ...]) -> None:
        self.tokens = _tokenize(text)
        self.i = 0
        self.definitions = definitions
        self.stack = stack

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, kind: str, value: str | None = None) -> str:
        tok = self.peek()
        if tok is None or tok[0] != kind or (value is not None and tok[1] != value):
            want = value or kind
            got = "end of expression" if tok is None else f"{tok[1]!r} at column {tok[2]}"
            raise RuleError(f"expected {want}, got {got}")
        self.i += 1
        return tok[1]

    def parse(self) -> Rule:
        rule = self.parse_or()
        if (tok := self.peek()) is not None:
            raise RuleError(f"unexpected {tok[1]!r} at column {tok[2]}")
        return rule

    def parse_or(self) -> Rule:
        rule = self.parse_and()
        while (tok := self.peek()) is not None and tok[1] == "|":
            self.i += 1
            rule = Or(rule, self.parse_and())
        return rule

    def parse_and(self) -> Rule:
        rule = self.parse_unary()
        while (tok := self.peek()) is not None and tok[1] == "&":
            self.i += 1
            rule = And(rule, self.parse_unary())
        return rule

    def parse_unary(self) -> Rule:
        tok = self.peek()
        if tok is not None and tok[1] == "!":
            self.i += 1
            return Not(self.parse_unary())
        return self.parse_primary()

    def parse_primary(self) -> Rule:
        tok = self.peek()
        if tok is None:
            raise RuleError("expression ends where a score, top(...) or '(' was expected")
        if tok[1] == "(":
            self.i += 1
            rule = self.parse_or()
            self.take("op", ")")
            return rule
        name = self.take("name")
        nxt = self.peek()
        if name == "top" and nxt is not None and nxt[1] == "(":
            self.i += 1
            column = self.take("name")
            self.take("op", ",")
            fraction = float(self.take("number"))
            where = None
            if (tok := self.peek()) is not None and tok[1] == ",":
                self.i += 1
                where = self.parse_or()
            self.take("op", ")")
            if not 0.0 <= fraction <= 1.0:
                raise RuleError(f"top({column}, {fraction:g}): the fraction must be in [0, 1]")
            return Top(column, fraction, where)
        if nxt is not None and nxt[1] in _COMPARISONS:
            self.i += 1
            return Compare(name, nxt[1], float(self.take("number")))
        return self.resolve(name)

    def resolve(self, name: str) -> Rule:
        text = self.definitions.get(name, PRESETS.get(name))
        if text is None:
            return Column(name)
        if name in self.stack:
            raise RuleError(f"definition cycle: {' -> '.join((*self.stack, name))}")
        try:
            return _Parser(text, self.definitions, (*self.stack, name)).parse()
        except RuleError as err:
            raise RuleError(f"in definition {name!r} = {text!r}: {err}") from None


def parse_rule(text: str, definitions: Mapping[str, str] | None = None) -> Rule:
    """Parse a filter expression; names resolve through ``definitions``, then :data:`PRESETS`."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("a filter expression must be a non-empty string")
    return _Parser(text, definitions or {}, ()).parse()


def rule_columns(rule: Rule) -> set[str]:
    """The score columns a parsed rule reads."""
    if isinstance(rule, Top) and rule.where is not None:
        return {rule.column} | rule_columns(rule.where)
    if isinstance(rule, (Compare, Top, Column)):
        return {rule.column}
    if isinstance(rule, Not):
        return rule_columns(rule.child)
    return rule_columns(rule.left) | rule_columns(rule.right)


def apply_rule(table: pd.DataFrame, text: str, definitions: Mapping[str, str] | None = None
               ) -> np.ndarray:
    """Boolean keep-mask of ``table``'s rows under expression ``text``."""
    value, known = parse_rule(text, definitions).evaluate(table)
    return value & known


def apply_rules(table: pd.DataFrame, rules: Mapping[str, str],
                definitions: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One boolean keep-column per named rule; errors name the rule at fault."""
    masks = {}
    for name, text in rules.items():
        try:
            masks[name] = apply_rule(table, text, definitions)
        except RuleError as err:
            raise RuleError(f"filter rule {name!r} ({text!r}): {err}") from None
    return pd.DataFrame(masks, index=table.index)
