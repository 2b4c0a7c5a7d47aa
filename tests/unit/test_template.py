"""Randomised inputs and `{name}` templating."""

from __future__ import annotations

from graders.template import draw_inputs, placeholders, render

INPUTS = {"email": {"kind": "email"}, "message": {"kind": "words", "count": 3},
          "payload": {"kind": "json_object"}, "id": {"kind": "uuid"}}


def test_inputs_differ_between_runs_so_hard_coded_answers_fail():
    first, second = draw_inputs(INPUTS), draw_inputs(INPUTS)
    assert all(first[name] != second[name] for name in INPUTS)


def test_a_seed_makes_inputs_repeatable():
    assert draw_inputs(INPUTS, seed=7) == draw_inputs(INPUTS, seed=7)


def test_email_and_words_have_the_expected_shape():
    values = draw_inputs(INPUTS, seed=1)
    assert values["email"].count("@") == 1 and values["email"].endswith("@example.org")
    assert len(values["message"].split()) == 3


def test_whole_placeholder_keeps_the_value_type():
    assert render({"json": "{payload}"}, {"payload": {"a": 1}}) == {"json": {"a": 1}}


def test_placeholders_inside_text_are_filled_and_unknown_ones_kept():
    assert render("/x/{id}?m={missing}", {"id": "42"}) == "/x/42?m={missing}"


def test_placeholders_are_found_at_any_depth():
    assert placeholders({"a": ["{x}", {"b": "pre {y} post"}], "{z}": 1}) == {"x", "y", "z"}

