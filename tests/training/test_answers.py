import pytest
from hypothesis import given
from hypothesis import strategies as st

from datarecipes.answers import extract_answer, extract_boxed, is_correct, normalize_answer


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"so \boxed{3}", "3"),
        (r"\boxed{1} then \boxed{2}", "2"),
        (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
        (r"\boxed{ red }.", "red"),
        (r"\boxed{2} and a cut-off \boxed{3", "2"),
        (r"\fbox{B}", "B"),
        ("no box here", None),
        ("", None),
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected


def test_extract_answer_handles_thinklite_step_format():
    text = ("### Step1: There are two red circles. <end> ### Step2: And 1 blue. <end> "
            r"### Final Answer: The answer is \boxed{3}. <end>")
    assert extract_answer(text) == "3"
    assert extract_answer("### Step1: 2 circles <end> ### Final Answer: 5 <end>") == "5"


def test_extract_answer_falls_back_to_option_letter_then_number():
    assert extract_answer("I pick (C) because of 3 reasons", ["a", "b", "c"]) == "C"
    assert extract_answer("The answer is B.", ["x", "y"]) == "B"
    assert extract_answer("E is not an option, 7 is", ["x", "y"]) == "7"
    assert extract_answer("there are 12 shapes") == "12"
    assert extract_answer("   ") is None


@pytest.mark.parametrize(
    ("prediction", "truth", "options", "correct"),
    [
        ("A", "A", None, True),
        ("(A)", "A", None, True),
        ("A.", "(A)", None, True),
        ("a", "A", None, True),
        ("B", "A", None, False),
        ("red", "(B)", ["blue", "red"], True),
        ("Red ", "B", ["blue", "red"], True),
        ("B. red", "B", ["blue", "red"], True),
        ("blue", "B", ["blue", "red"], False),
        ("option B", "B", ["blue", "red"], True),
        ("1", "10", None, False),
        ("10", "1", None, False),
        ("3.0", "3", None, True),
        ("1,000", "1000", None, True),
        (r"\frac{1}{2}", "0.5", None, True),
        ("1/2", "0.5", None, True),
        ("$5$", "5", None, True),
        (r"\text{Yes}", "yes", None, True),
        ("left  of", "Left of", None, True),
        ("yes", "no", None, False),
        ("one", "1", None, True),
        ("Two", "2", None, True),
        ("2", "three", None, False),
        ("three", "(B)", ["two", "3"], True),
        ("someone", "1", None, False),
        (None, "1", None, False),
        ("", "1", None, False),
    ],
)
def test_is_correct(prediction, truth, options, correct):
    assert is_correct(prediction, truth, options) is correct


@given(st.integers(min_value=-10**9, max_value=10**9))
def test_numbers_match_their_own_spellings(n):
    assert is_correct(str(n), f"{n}.0")
    assert is_correct(f"{n:,}", str(n))
    assert not is_correct(str(n), str(n + 1))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_normalize_is_idempotent(text):
    once = normalize_answer(text)
    assert normalize_answer(once) == once


@given(st.text(alphabet="abc xyz", min_size=1, max_size=12))
def test_boxed_round_trip(content):
    assert extract_boxed(f"reasoning \\boxed{{{content}}} done") == content.strip()
