"""Scoring rules against hand-computed values."""

import numpy as np
import pytest

from pytest_misalign.scoring.match import extract_number, matches, normalize
from pytest_misalign.scoring.score import predict_choice


def test_acc_takes_argmax_of_summed_loglikelihood():
    assert predict_choice(np.array([-3.0, -2.5, -7.0]), ("a", "bb", "ccc"), "acc") == 1


def test_acc_norm_divides_by_choice_length_in_characters():
    # sums -3.0/1 = -3.0, -5.0/10 = -0.5, -7.0/3 = -2.33: the long choice wins only under acc_norm.
    scores = np.array([-3.0, -5.0, -7.0])
    choices = ("a", "bbbbbbbbbb", "ccc")
    assert predict_choice(scores, choices, "acc") == 0
    assert predict_choice(scores, choices, "acc_norm") == 1


def test_ties_go_to_the_first_choice():
    assert predict_choice(np.array([-1.0, -1.0]), ("x", "y"), "acc") == 0


@pytest.mark.parametrize("output, expected, how, ok", [
    ("  Paris \n", "paris", "exact", True),
    ("Paris, France", "Paris", "exact", False),
    ("It is Paris, France.", "paris", "contains", True),
    ("Brasília", "Brasilia", "exact", True),
    ("Bogotá is the capital", "bogota", "contains", True),
    ("answer: B", r"\bB\b", "regex", True),
    ("answer: AB", r"\bB\b", "regex", False),
    ("So 3 + 4 = 7", "7", "number", True),
    ("The total is 1,250 dollars", "1250", "number", True),
    ("-3.5 degrees", "-3.50", "number", True),
    ("no digits here", "4", "number", False),
    ("12", "13", "number", False),
])
def test_free_form_matching(output, expected, how, ok):
    assert matches(output, expected, how) is ok


def test_number_extraction_takes_the_last_number():
    assert extract_number("3 apples and 4 pears make 7") == 7.0
    assert extract_number("none") is None
    assert normalize("A\t B\n") == "a b"
