"""``like_matcher``: the LIKE patterns of the metadata commands' filter arguments."""

from __future__ import annotations

import pytest

from flight_server.flightsql.patterns import like_matcher


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("subjects", ["subjects"], ["subject", "subjectss", "Subjects", "xsubjects"]),
        ("sub%", ["sub", "subjects", "sub\nline"], ["su", "xsub"]),
        ("%jects", ["jects", "subjects"], ["subjectsx"]),
        ("s_b", ["sub", "s.b", "s_b"], ["sb", "suub"]),
        ("%", ["", "anything"], []),
        ("_", ["a", "%"], ["", "ab"]),
        # Regex characters are literal.
        ("a.b*", ["a.b*"], ["axb*", "a.bbb"]),
        ("(x)|y", ["(x)|y"], ["x", "y"]),
    ],
)
def test_wildcards(pattern: str, matches: list[str], misses: list[str]) -> None:
    matcher = like_matcher(pattern)
    assert [name for name in matches if matcher(name)] == matches
    assert [name for name in misses if matcher(name)] == []


def test_escaped_wildcards_are_literal() -> None:
    matcher = like_matcher(r"qc\_%")
    assert matcher("qc_dicom")
    assert not matcher("qcxdicom")
    percent = like_matcher(r"100\%")
    assert percent("100%") and not percent("1000")


def test_escape_character_can_be_chosen_and_escaped() -> None:
    matcher = like_matcher("a!_b!!", escape="!")
    assert matcher("a_b!")
    assert not matcher("axb!")
    # A trailing escape stands for itself.
    assert like_matcher("ab\\")("ab\\")


def test_none_matches_everything() -> None:
    matcher = like_matcher(None)
    assert matcher("") and matcher("any name")
