"""docs/spec.md is generated from the check types' own schemas, descriptions and examples: every
option is described, every check type has an example that is a valid check, and the file on
disk is what the generator writes."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from graders.checks import registry
from graders.spec.docs import render_docs, undescribed
from graders.spec.schema import spec_schema

ROOT = Path(__file__).resolve().parents[2]


def test_every_option_of_the_spec_schema_has_a_description():
    missing = undescribed(spec_schema(registry()))
    assert not missing, f"options without a description (add one in their schema): {', '.join(missing)}"


def test_the_description_check_bites_on_an_undescribed_option_at_any_depth():
    schema = {"properties": {"a": {"type": "string", "description": "ok"},
                             "b": {"type": "object", "description": "ok",
                                   "properties": {"c": {"type": "integer"}}},
                             "r": {"$ref": "#/$defs/x"}},
              "$defs": {"x": {"properties": {"d": {}}}}}
    assert undescribed(schema) == ["b.c", "x.d"]


@pytest.mark.parametrize("name", sorted(registry()))
def test_each_check_type_has_an_example_of_valid_checks(name):
    check_type = registry()[name]
    examples = yaml.safe_load(check_type.example or "[]")
    assert examples, f"check type '{name}' has no `example` (docs/spec.md shows one per type)"
    schema = spec_schema(registry())
    validator = jsonschema.Draft202012Validator({"$defs": schema["$defs"], "$ref": "#/$defs/check"})
    for check in examples:
        errors = [e.message for e in validator.iter_errors(check)]
        assert not errors, (check["id"], errors)
        bodies = [check[name]] if name in check else [s[name] for s in check.get("setup", []) if name in s]
        assert bodies, f"an example of '{name}' uses no '{name}' (as the check or a setup step): {check['id']}"
        for body in bodies if check_type.validate else []:
            assert check_type.validate(body) == [], check["id"]


def test_docs_spec_md_is_the_generated_reference():
    on_disk = (ROOT / "docs" / "spec.md").read_text(encoding="utf-8")
    assert on_disk == render_docs(registry()), \
        "docs/spec.md is stale: run `python runner.py schema --docs docs/spec.md`"


def test_the_reference_covers_every_check_type_filter_and_top_level_option():
    from graders.template import FILTERS

    text = render_docs(registry())
    for name in registry():
        assert f"### `{name}`" in text
    for name in FILTERS:
        assert f"| `{name}` |" in text
    for option in spec_schema(registry())["properties"]:
        assert f"| `{option}`" in text
    for topic in ("keeps its type", "`json_schema` included", "skipped", "mutant.patch", "known_gap", "`lint`"):
        assert topic in text, topic
