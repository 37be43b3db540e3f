"""The segment rule language (DOMAIN.md §4): trait ids combined with AND, OR, NOT, parentheses and ``,``.

The rule is parsed into a small immutable tree rather than evaluated as text because the same tree
drives three things that must agree: audience membership, the sketch estimates of sub-expression
populations, and cost attribution (§8). Attribution splits impressions at every OR node by the
population of each child, so the *shape* of the tree is part of the billing contract:

* a chain of one operator at one level is one n-ary node (``A OR B OR C`` and ``A, B, C`` both give an
  ``Or`` with three children — the published example case 2 depends on it);
* a parenthesised group stays its own node (``A OR (B OR C)`` is ``Or(A, Or(B, C))``), because its
  population is the group's estimated population, not the sum of its traits;
* ``(A)`` is just ``A``: parentheses around a single operand create no node.

Every syntax error is a ``ValidationError`` with code ``invalid_rule`` whose detail carries the 0-based
character offset, so the audience builder can underline the exact spot.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from audiens.errors import ValidationError

__all__ = [
    "MAX_NESTING",
    "MAX_RULE_LENGTH",
    "And",
    "Node",
    "Not",
    "Or",
    "Trait",
    "min_trait_id",
    "parse_rule",
    "to_text",
    "trait_ids",
]

MAX_RULE_LENGTH: Final = 4000
"""Longest accepted rule text, in characters; bounds parse time and the size of stored segments."""

MAX_NESTING: Final = 50
"""Deepest accepted nesting; every ``(`` and every ``NOT`` opens one level. Bounds recursion everywhere."""

KEYWORDS: Final = frozenset({"AND", "OR", "NOT"})

_IDENT_RE: Final = re.compile(r"[A-Za-z0-9_\-.:]+")
_WHITESPACE: Final = frozenset(" \t\r\n")


@dataclass(frozen=True, slots=True)
class Trait:
    id: str

    def __post_init__(self) -> None:
        # Guarding construction keeps ``parse_rule(to_text(node)) == node`` true for every node that exists.
        if not _IDENT_RE.fullmatch(self.id) or self.id.upper() in KEYWORDS:
            raise ValueError(f"not a valid trait id: {self.id!r}")


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        # A one-child AND has no textual form ("(A)" is just A), so it could never round-trip.
        if len(self.children) < 2:
            raise ValueError("And needs at least two children")


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        if len(self.children) < 2:
            raise ValueError("Or needs at least two children")


@dataclass(frozen=True, slots=True)
class Not:
    child: Node


Node = Trait | And | Or | Not


# --------------------------------------------------------------------------------------------- tokenizer

_IDENT: Final = "ident"
_AND: Final = "AND"
_OR: Final = "OR"
_NOT: Final = "NOT"
_COMMA: Final = ","
_LPAREN: Final = "("
_RPAREN: Final = ")"
_END: Final = "end"

_PUNCTUATION: Final = {",": _COMMA, "(": _LPAREN, ")": _RPAREN}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    pos: int

    def describe(self) -> str:
        return "the end of the rule" if self.kind == _END else f"'{self.text}'"


def _fail(pos: int, message: str) -> ValidationError:
    return ValidationError(
        f"Invalid rule: {message}", code="invalid_rule", details=[{"position": pos, "message": message}]
    )


def _tokenize(text: str) -> Iterator[_Token]:
    # A generator, so the parser reports the leftmost error: "A B &" fails at B, not at the later '&'.
    pos = 0
    length = len(text)
    while pos < length:
        ch = text[pos]
        if ch in _WHITESPACE:
            pos += 1
            continue
        kind = _PUNCTUATION.get(ch)
        if kind is not None:
            yield _Token(kind, ch, pos)
            pos += 1
            continue
        match = _IDENT_RE.match(text, pos)
        if match is None:
            raise _fail(pos, f"unexpected character {ch!r} at position {pos}")
        word = match.group()
        upper = word.upper()
        yield _Token(upper if upper in KEYWORDS else _IDENT, word, pos)
        pos = match.end()
    yield _Token(_END, "", length)


# ------------------------------------------------------------------------------------------------ parser

_OPERAND_START: Final = frozenset({_IDENT, _NOT, _LPAREN})


class _Parser:
    """Recursive descent over ``or := and ((OR|,) and)*; and := not (AND not)*; not := NOT not | primary``."""

    def __init__(self, text: str) -> None:
        self._stream = _tokenize(text)
        self._tokens: list[_Token] = []
        self._index = 0
        self._depth = 0

    @property
    def _current(self) -> _Token:
        while len(self._tokens) <= self._index:
            self._tokens.append(next(self._stream))
        return self._tokens[self._index]

    def _previous(self) -> _Token | None:
        return self._tokens[self._index - 1] if self._index > 0 else None

    def _advance(self) -> None:
        self._index += 1

    def parse(self) -> Node:
        if self._current.kind == _END:
            raise _fail(0, "the rule is empty: expected a trait id, NOT or '(' at position 0")
        node = self._parse_or()
        token = self._current
        if token.kind == _RPAREN:
            raise _fail(token.pos, f"unexpected ')' at position {token.pos}: there is no '(' to close")
        if token.kind != _END:  # pragma: no cover - _parse_or stops only at ')' or the end
            raise _fail(token.pos, f"unexpected {token.describe()} at position {token.pos}")
        return node

    def _parse_or(self) -> Node:
        children = [self._parse_and()]
        while self._current.kind in (_OR, _COMMA):
            self._advance()
            children.append(self._parse_and())
        self._reject_missing_operator()
        return children[0] if len(children) == 1 else Or(tuple(children))

    def _parse_and(self) -> Node:
        children = [self._parse_not()]
        while self._current.kind == _AND:
            self._advance()
            children.append(self._parse_not())
        return children[0] if len(children) == 1 else And(tuple(children))

    def _parse_not(self) -> Node:
        token = self._current
        if token.kind != _NOT:
            return self._parse_primary()
        self._enter(token)
        self._advance()
        child = self._parse_not()
        self._depth -= 1
        return Not(child)

    def _parse_primary(self) -> Node:
        token = self._current
        if token.kind == _IDENT:
            self._advance()
            return Trait(token.text)
        if token.kind == _LPAREN:
            self._enter(token)
            self._advance()
            inner = self._parse_or()
            closing = self._current
            if closing.kind != _RPAREN:
                raise _fail(
                    closing.pos,
                    f"expected ')' at position {closing.pos} to close the '(' at position {token.pos}, "
                    f"found {closing.describe()}",
                )
            self._advance()
            self._depth -= 1
            return inner
        previous = self._previous()
        after = f" after {previous.describe()}" if previous is not None else ""
        raise _fail(
            token.pos,
            f"expected a trait id, NOT or '('{after} at position {token.pos}, found {token.describe()}",
        )

    def _enter(self, token: _Token) -> None:
        self._depth += 1
        if self._depth > MAX_NESTING:
            raise _fail(
                token.pos,
                f"the rule is nested deeper than {MAX_NESTING} levels at position {token.pos} "
                "(every '(' and every NOT opens a level)",
            )

    def _reject_missing_operator(self) -> None:
        # Two operands side by side ("A B", "A (B)", "A NOT B") is the most common typo; name it precisely
        # instead of letting it surface later as a confusing "expected ')'".
        token = self._current
        if token.kind in _OPERAND_START:
            previous = self._previous()
            between = f"between {previous.describe()} and {token.describe()}" if previous else "before"
            raise _fail(token.pos, f"expected AND, OR or ',' {between} at position {token.pos}")


def parse_rule(text: str) -> Node:
    """Parse rule text into its tree, or raise ``ValidationError(code="invalid_rule")`` pointing at the error."""
    if len(text) > MAX_RULE_LENGTH:
        raise _fail(
            MAX_RULE_LENGTH,
            f"the rule is {len(text)} characters long; text from position {MAX_RULE_LENGTH} on is past "
            f"the limit of {MAX_RULE_LENGTH} characters",
        )
    return _Parser(text).parse()


# ----------------------------------------------------------------------------------------------- helpers


def trait_ids(node: Node) -> frozenset[str]:
    """All distinct trait ids in the rule, e.g. to check they exist and the buyer may use them."""
    found: set[str] = set()
    stack: list[Node] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, Trait):
            found.add(current.id)
        elif isinstance(current, Not):
            stack.append(current.child)
        else:
            stack.extend(current.children)
    return frozenset(found)


def min_trait_id(node: Node) -> str:
    """The smallest trait id (code-point order): the tie-break key of a sub-expression in attribution."""
    return min(trait_ids(node))


def to_text(node: Node) -> str:
    """Canonical text: upper-case keywords, `` OR `` rather than commas, only the parentheses the tree needs.

    Parentheses are kept exactly where they create a node (an OR inside an OR, an AND inside an AND, any
    AND/OR under NOT or an OR under AND), so ``parse_rule(to_text(node)) == node`` for every node.
    """
    if isinstance(node, Trait):
        return node.id
    if isinstance(node, Not):
        inner = to_text(node.child)
        return f"NOT ({inner})" if isinstance(node.child, And | Or) else f"NOT {inner}"
    if isinstance(node, And):
        return " AND ".join(f"({to_text(c)})" if isinstance(c, And | Or) else to_text(c) for c in node.children)
    return " OR ".join(f"({to_text(c)})" if isinstance(c, Or) else to_text(c) for c in node.children)
