"""Randomised inputs and `{name}` templating."""

from __future__ import annotations

from graders.template import draw_inputs, placeholders, render, unknown_filters

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



def test_filters_transform_a_value_and_keep_its_type_when_whole():
    variables = {"name": "Cedar Box", "payload": {"a": 1}, "tags": ["x", "y"], "n": 42}
    assert render("{name|upper}", variables) == "CEDAR BOX"
    assert render("{name|lower}", variables) == "cedar box"
    assert render("{tags|len}", variables) == 2 and render("{name|len}", variables) == 9
    assert render("{payload|json}", variables) == '{"a": 1}'
    assert render("{n|str}", variables) == "42" and render("{n}", variables) == 42
    assert render("/find/{name|urlencode}", variables) == "/find/Cedar%20Box"


def test_filters_chain_left_to_right_inside_text():
    assert render("len={payload|json|len}, {name|lower|upper}", {"payload": {"a": 1}, "name": "Ab"}) == "len=8, AB"


def test_an_unknown_filter_is_found_and_left_unrendered():
    assert unknown_filters({"path": "/x/{id|shout}", "q": "{id|upper}"}) == {"shout"}
    assert render("/x/{id|shout}", {"id": "a"}) == "/x/{id|shout}"
    assert placeholders("/x/{id|shout|upper}") == {"id"}


def test_regex_quantifiers_and_json_braces_are_not_placeholders():
    assert placeholders({"pattern": "^[a-f0-9]{8}$", "text": '{"a": 1}'}) == set()


def test_object_keys_stay_text_even_from_a_whole_placeholder():
    assert render({"{id}": 2}, {"id": 7}) == {"7": 2}


def test_every_input_kind_the_schema_offers_is_drawn():
    import random

    from graders.spec.schema import INPUT_KINDS
    from graders.template import generate

    for kind in INPUT_KINDS:
        assert generate(kind, {"value": 1}, random.Random(1)) is not None, kind


def test_other_gives_an_id_of_the_same_shape_that_is_not_the_one_issued():
    import uuid

    assert render("{id|other}", {"id": 1}) == 1_000_000_001  # an INCR id: another integer, never issued
    assert render("/task/{id|other}", {"id": "42"}) == "/task/1000000042"
    issued = "e91d41f0-9c39-48d4-937e-b27ca9ec7d66"
    other = render("{id|other}", {"id": issued})
    assert other != issued and uuid.UUID(other).version == 4  # a route typed UUID4 still accepts it
    assert render("{id|other}", {"id": issued}) == other  # the same each time: a spec stays repeatable
    assert render("{id|other}", {"id": "job-7a"}) == "a7-boj" and render("{id|other}", {"id": "aa"}) == "aa0"
