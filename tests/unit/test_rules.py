"""The segment rule language (DOMAIN.md §4): tree shape, canonical text and syntax errors with positions."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from audiens.domain.rules import (
    MAX_NESTING,
    MAX_RULE_LENGTH,
    And,
    Node,
    Not,
    Or,
    Trait,
    min_trait_id,
    parse_rule,
    to_text,
    trait_ids,
)
from audiens.errors import ValidationError

A, B, C, D = Trait("A"), Trait("B"), Trait("C"), Trait("D")


def syntax_error(text: str) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        parse_rule(text)
    return caught.value


# ------------------------------------------------------------------------------------------ tree shape


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("A", A, id="a single trait"),
        pytest.param("A OR B OR C", Or((A, B, C)), id="an OR chain is one n-ary node"),
        pytest.param("A, B, C", Or((A, B, C)), id="a comma list is the same OR node"),
        pytest.param("A OR B, C", Or((A, B, C)), id="comma and OR mix at one level"),
        pytest.param("A AND B AND C", And((A, B, C)), id="an AND chain is one n-ary node"),
        pytest.param("A OR (B OR C)", Or((A, Or((B, C)))), id="a parenthesised group is its own node"),
        pytest.param("(A OR B), C", Or((Or((A, B)), C)), id="a group inside a comma list"),
        pytest.param("(A)", A, id="parentheses around one operand create no node"),
        pytest.param("((A AND B))", And((A, B)), id="redundant parentheses create no node"),
        pytest.param("A OR B AND C", Or((A, And((B, C)))), id="AND binds tighter than OR"),
        pytest.param("A, B AND C", Or((A, And((B, C)))), id="AND binds tighter than a comma"),
        pytest.param("NOT A AND B", And((Not(A), B)), id="NOT binds tighter than AND"),
        pytest.param("NOT (A AND B)", Not(And((A, B))), id="NOT of a group"),
        pytest.param("NOT NOT A", Not(Not(A)), id="double negation is kept"),
        pytest.param("a and b Or not c", Or((And((Trait("a"), Trait("b"))), Not(Trait("c")))), id="keywords any case"),
        pytest.param("(A)AND(B),C", Or((And((A, B)), C)), id="no spaces needed around punctuation"),
        pytest.param("\tA\nAND\r\n  B ", And((A, B)), id="any ASCII whitespace separates"),
    ],
)
def test_given_rule_text_when_parsed_then_tree_has_the_documented_shape(text: str, expected: Node) -> None:
    assert parse_rule(text) == expected


def test_given_the_domain_example_when_parsed_then_or_is_nested_under_and() -> None:
    # Given the example of DOMAIN.md §4
    text = "trt_a1 AND (trt_b2 OR NOT trt_c3)"
    # When parsed
    node = parse_rule(text)
    # Then
    assert node == And((Trait("trt_a1"), Or((Trait("trt_b2"), Not(Trait("trt_c3"))))))


@pytest.mark.parametrize("trait", ["trt_3f9a0c", "A1", "feed-x.seg:42", "ORDER", "ANDROID", "NOTE", "or_1", "0"])
def test_given_ids_that_contain_keywords_when_parsed_then_they_are_trait_ids(trait: str) -> None:
    assert parse_rule(f"{trait} AND x") == And((Trait(trait), Trait("x")))


def test_given_published_case_2_when_parsed_then_the_or_has_three_children() -> None:
    # Given both spellings of the published example (attribution depends on a 3-way split)
    # When parsed / Then both are the same single OR node
    assert parse_rule("A3 OR B2 OR C1") == parse_rule("A3, B2, C1") == Or((Trait("A3"), Trait("B2"), Trait("C1")))


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        pytest.param("", 0, "the rule is empty", id="empty"),
        pytest.param("   \t", 0, "the rule is empty", id="only whitespace"),
        pytest.param("(A OR B", 7, "expected ')' at position 7 to close the '(' at position 0", id="unclosed paren"),
        pytest.param("((A) AND B", 10, "to close the '(' at position 0", id="unclosed outer paren"),
        pytest.param("A OR B)", 6, "unexpected ')' at position 6", id="extra closing paren"),
        pytest.param("A AND", 5, "after 'AND' at position 5, found the end of the rule", id="dangling AND"),
        pytest.param("A OR", 4, "after 'OR' at position 4", id="dangling OR"),
        pytest.param("A,", 2, "after ',' at position 2", id="dangling comma"),
        pytest.param("A AND NOT", 9, "after 'NOT' at position 9", id="dangling NOT"),
        pytest.param("OR A", 0, "expected a trait id, NOT or '(' at position 0, found 'OR'", id="leading operator"),
        pytest.param("A AND OR B", 6, "after 'AND' at position 6, found 'OR'", id="two operators"),
        pytest.param("A, , B", 3, "after ',' at position 3, found ','", id="empty list item"),
        pytest.param("A AND (B OR )", 12, "at position 12, found ')'", id="operator before close paren"),
        pytest.param("A AND ()", 7, "after '(' at position 7, found ')'", id="empty parentheses"),
        pytest.param("A B", 2, "expected AND, OR or ',' between 'A' and 'B' at position 2", id="missing operator"),
        pytest.param("(A OR B) C", 9, "between ')' and 'C' at position 9", id="missing operator after group"),
        pytest.param("A (B)", 2, "between 'A' and '(' at position 2", id="missing operator before group"),
        pytest.param("A NOT B", 2, "between 'A' and 'NOT' at position 2", id="NOT is not a binary operator"),
        pytest.param("(A B)", 3, "between 'A' and 'B' at position 3", id="missing operator inside group"),
        pytest.param("A & B", 2, "unexpected character '&' at position 2", id="unknown character"),
        pytest.param("A AND trät", 8, "unexpected character 'ä' at position 8", id="non-ASCII character"),
        pytest.param("A; DROP", 1, "unexpected character ';' at position 1", id="semicolon"),
        pytest.param("A B &", 2, "between 'A' and 'B' at position 2", id="the leftmost error is reported"),
    ],
)
def test_given_a_malformed_rule_when_parsed_then_invalid_rule_points_at_the_position(
    text: str, position: int, fragment: str
) -> None:
    # Given a malformed rule / When parsed
    error = syntax_error(text)
    # Then it is a 422 invalid_rule whose detail names the 0-based offset, also quoted in the message
    assert error.status == 422
    assert error.code == "invalid_rule"
    assert error.details == [{"position": position, "message": error.details[0]["message"]}]
    assert fragment in error.details[0]["message"]
    assert fragment in error.message


def test_given_the_error_body_when_rendered_then_it_carries_code_message_and_position() -> None:
    # Given a rule with a stray closing parenthesis
    error = syntax_error("A1 OR B2)")
    # When rendered for the API / Then
    assert error.to_body() == {
        "error": {
            "code": "invalid_rule",
            "message": "Invalid rule: unexpected ')' at position 8: there is no '(' to close",
            "details": [{"position": 8, "message": "unexpected ')' at position 8: there is no '(' to close"}],
        }
    }


def _rule_of_length(length: int) -> str:
    # "A0000 OR A0001 OR ..." padded with trailing spaces to the exact length.
    parts: list[str] = []
    text = ""
    while len(text) + len(" OR A0000") <= length:
        parts.append(f"A{len(parts):04d}")
        text = " OR ".join(parts)
    return text.ljust(length)


def test_given_a_rule_of_exactly_the_maximum_length_when_parsed_then_it_is_accepted() -> None:
    text = _rule_of_length(MAX_RULE_LENGTH)
    assert len(text) == MAX_RULE_LENGTH
    assert isinstance(parse_rule(text), Or)


def test_given_a_rule_one_character_too_long_when_parsed_then_position_is_the_limit() -> None:
    # Given a rule of 4,001 characters
    text = _rule_of_length(MAX_RULE_LENGTH + 1)
    # When parsed
    error = syntax_error(text)
    # Then the error points at the first character past the limit
    assert error.details[0]["position"] == MAX_RULE_LENGTH
    assert "4001 characters long" in error.message
    assert "limit of 4000 characters" in error.message


@pytest.mark.parametrize(
    ("opener", "closer", "step"),
    [pytest.param("(", ")", 1, id="parentheses"), pytest.param("NOT ", "", 4, id="NOT chain")],
)
def test_given_nesting_at_the_limit_when_parsed_then_accepted_and_one_more_level_is_refused(
    opener: str, closer: str, step: int
) -> None:
    # Given 50 levels / When parsed / Then accepted
    assert trait_ids(parse_rule(opener * MAX_NESTING + "A" + closer * MAX_NESTING)) == {"A"}
    # Given 51 levels / When parsed / Then refused at the opener of level 51
    error = syntax_error(opener * (MAX_NESTING + 1) + "A" + closer * (MAX_NESTING + 1))
    assert error.details[0]["position"] == MAX_NESTING * step
    assert "nested deeper than 50" in error.message


def test_given_parentheses_and_nots_mixed_when_51_levels_deep_then_refused() -> None:
    text = "(NOT " * 25 + "(NOT A" + ")" * 26
    error = syntax_error(text)
    assert error.details[0]["position"] == 25 * 5  # 25 x "(NOT " is 50 levels; the next '(' opens level 51
    assert "nested deeper" in error.message


def test_given_a_very_long_flat_rule_when_parsed_then_no_recursion_limit_is_hit() -> None:
    # Given ~800 traits at one level (depth stays 1 however long a chain is)
    text = ",".join(f"t{i}" for i in range(800))
    # When parsed / Then one OR with every trait
    node = parse_rule(text)
    assert isinstance(node, Or)
    assert len(node.children) == 800


# --------------------------------------------------------------------------------------------- helpers


def test_given_a_rule_when_asking_trait_ids_then_each_distinct_id_once() -> None:
    node = parse_rule("trt_b AND (trt_a OR NOT trt_b), trt_c")
    assert trait_ids(node) == frozenset({"trt_a", "trt_b", "trt_c"})
    assert min_trait_id(node) == "trt_a"


def test_given_ids_differing_by_case_when_ordered_then_code_point_order_is_used() -> None:
    # Tie-breaks must not depend on locale: "B1" < "a1" because upper case sorts first.
    assert min_trait_id(parse_rule("a1 OR B1")) == "B1"


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("a, b , c", "a OR b OR c"),
        ("x and (y or z)", "x AND (y OR z)"),
        ("(x and y) or z", "x AND y OR z"),
        ("x or (y or z)", "x OR (y OR z)"),
        ("x and (y and z)", "x AND (y AND z)"),
        ("not (x or y)", "NOT (x OR y)"),
        ("not not ((x))", "NOT NOT x"),
    ],
)
def test_given_rule_text_when_rendered_then_canonical_text_keeps_only_meaningful_parentheses(
    text: str, canonical: str
) -> None:
    assert to_text(parse_rule(text)) == canonical


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: Trait("AND"), id="keyword as trait id"),
        pytest.param(lambda: Trait("a b"), id="space in trait id"),
        pytest.param(lambda: Trait(""), id="empty trait id"),
        pytest.param(lambda: Or((A,)), id="one-child OR"),
        pytest.param(lambda: And(()), id="empty AND"),
    ],
)
def test_given_an_impossible_node_when_constructed_then_value_error(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


# ---------------------------------------------------------------------------------------------- properties

ID_ALPHABET = "abcXYZ019_-.:"
trait_strategy = st.text(ID_ALPHABET, min_size=1, max_size=6).filter(lambda s: s.upper() not in {"AND", "OR", "NOT"})


def _children(inner: st.SearchStrategy[Node]) -> st.SearchStrategy[tuple[Node, ...]]:
    return st.lists(inner, min_size=2, max_size=4).map(tuple)


rule_trees: st.SearchStrategy[Node] = st.recursive(
    trait_strategy.map(Trait),
    lambda inner: st.one_of(
        inner.map(Not),
        _children(inner).map(And),
        _children(inner).map(Or),
    ),
    max_leaves=20,
)


def nesting(node: Node) -> int:
    """Levels the canonical text opens: one per NOT and one per parenthesised group."""
    if isinstance(node, Trait):
        return 0
    if isinstance(node, Not):
        return 1 + nesting(node.child) + isinstance(node.child, And | Or)
    nested = (Or,) if isinstance(node, Or) else (And, Or)
    return max(nesting(c) + isinstance(c, nested) for c in node.children)


@settings(max_examples=300, deadline=None)
@given(rule_trees)
def test_given_any_tree_when_rendered_and_parsed_then_the_same_tree_comes_back(node: Node) -> None:
    assume(nesting(node) <= MAX_NESTING)
    assert parse_rule(to_text(node)) == node


@st.composite
def noisy_text(draw: st.DrawFn, node: Node) -> str:
    """Any of the many spellings of a tree: keyword case, commas, spacing, redundant parentheses."""
    space = st.sampled_from([" ", "  ", "\t", "\n", " \r\n "])

    def keyword(word: str) -> str:
        return "".join(draw(st.sampled_from([ch.lower(), ch.upper()])) for ch in word)

    def render(current: Node) -> str:
        if isinstance(current, Trait):
            text = current.id
        elif isinstance(current, Not):
            child = render(current.child)
            text = f"{keyword('NOT')}{draw(space)}({child})"
        else:
            parts = [f"({render(child)})" for child in current.children]
            pieces = [parts[0]]
            for part in parts[1:]:
                if isinstance(current, Or) and draw(st.booleans()):
                    separator = draw(st.sampled_from(["", " "])) + "," + draw(st.sampled_from(["", " ", "\n"]))
                else:
                    separator = draw(space) + keyword("AND" if isinstance(current, And) else "OR") + draw(space)
                pieces.append(separator + part)
            text = "".join(pieces)
        return text

    return render(node)


def _paren_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        deepest = max(deepest, depth)
    return deepest


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_given_any_spelling_of_a_tree_when_parsed_then_the_tree_is_recovered(data: st.DataObject) -> None:
    # Given a tree and a noisy spelling of it (every operand wrapped in parentheses, random case/separators)
    node = data.draw(rule_trees)
    text = data.draw(noisy_text(node))
    assume(_paren_depth(text) + text.upper().count("NOT") <= MAX_NESTING and len(text) <= MAX_RULE_LENGTH)
    # When parsed / Then
    assert parse_rule(text) == node


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"AB ,()&é\t", "AND ", "OR ", "NOT ", "x1"]), max_size=25).map("".join))
def test_given_arbitrary_text_when_parsed_then_a_tree_or_an_invalid_rule_error_inside_the_text(text: str) -> None:
    # Given any text / When parsed
    try:
        node = parse_rule(text)
    except ValidationError as error:
        # Then a failure is always invalid_rule with a position within the text (or just past its end)
        assert error.code == "invalid_rule"
        position = error.details[0]["position"]
        assert 0 <= position <= len(text)
        assert f"position {position}" in error.message
    else:
        # Then a success round-trips through its canonical text
        assert parse_rule(to_text(node)) == node
