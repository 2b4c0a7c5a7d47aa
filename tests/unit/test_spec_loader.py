"""The spec loader: the default spec loads, bad specs are rejected with file, line and path."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from graders.checks import registry
from graders.spec.loader import SpecError, load_spec
from graders.spec.schema import spec_schema

ROOT = Path(__file__).resolve().parents[2]

MINIMAL = """\
version: 1
roles:
  web: {names: [web], port: 8000}
parts:
  - id: api
    points: 3
    checks:
      - id: ping
        points: 3
        http: {path: /ping, expect: {status: 200}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value.problems


def test_default_spec_loads_with_every_part_of_the_lab():
    spec = load_spec(ROOT / "specs" / "lab4.yaml")
    assert [p.id for p in spec.parts] == ["background", "celery", "queue", "websocket", "docker", "bonus"]
    assert {p.id: p.points for p in spec.parts} == {"background": 15, "celery": 20, "queue": 25,
                                                      "websocket": 25, "docker": 15, "bonus": 10}
    bonus = spec.parts[-1]
    assert bonus.bonus and [c.id for c in bonus.checks] == ["scale", "nginx"]


def test_grading_one_part_also_runs_what_its_checks_need_from_other_parts():
    spec = load_spec(ROOT / "specs" / "lab4.yaml")
    run = [c.qualified_id for c in spec.to_run(("bonus",))]
    # bonus.scale needs queue.processed, which needs queue.add_task: both run, in spec order
    assert run == ["queue.add_task", "queue.processed", "bonus.scale", "bonus.nginx"]
    assert len(spec.to_run()) == len(list(spec.checks()))


def test_minimal_spec_loads_into_typed_checks(tmp_path):
    spec = load_spec(write(tmp_path, MINIMAL))
    (check,) = spec.checks()
    assert (check.qualified_id, check.type, check.points) == ("api.ping", "http", 3.0)


def test_wrong_type_names_the_path_and_line(tmp_path):
    path = write(tmp_path, MINIMAL.replace("status: 200", "status: ok"))
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:10: parts[0].checks[0].http.expect.status:")


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path, MINIMAL.replace("http: {path", "htp: {x: 1}\n        http: {path"))
    text = "\n".join(problems_of(path))
    assert "parts[0].checks[0].htp: unknown key 'htp'; did you mean 'http'?" in text


def test_check_with_two_types_is_rejected(tmp_path):
    path = write(tmp_path, MINIMAL.replace("http: {path", "log: {role: web, file: a, contains: b}\n"
                                                          "        http: {path"))
    assert any("exactly one type" in p and "http, log" in p for p in problems_of(path))


def test_unknown_placeholder_and_role_and_need_are_reported(tmp_path):
    path = write(tmp_path, MINIMAL.replace("path: /ping,", "path: '/ping/{nobody}', role: db,")
                 .replace("points: 3\n        http", "points: 3\n        needs: [ghost]\n        http"))
    text = "\n".join(problems_of(path))
    assert "'{nobody}' is neither an input nor saved" in text
    assert "role 'db' is not defined" in text
    assert "no check 'ghost'" in text


def test_part_points_must_add_up(tmp_path):
    path = write(tmp_path, MINIMAL.replace("    points: 3\n    checks", "    points: 5\n    checks"))
    (problem,) = problems_of(path)
    assert ":6: parts[0].points:" in problem and "add up to 3" in problem


def test_needs_cycle_is_reported(tmp_path):
    text = MINIMAL.replace("        http: {path: /ping", "        needs: [pong]\n        http: {path: /ping") + """\
      - id: pong
        points: 0
        needs: [ping]
        http: {path: /pong}
"""
    path = write(tmp_path, text.replace("points: 3\n    checks", "points: 3\n    checks"))
    assert any("cycle" in p for p in problems_of(path))


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "version: 1\nparts: [\n  - id: x\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:") and "not valid YAML" in problem


def test_missing_file_is_a_spec_error(tmp_path):
    assert problems_of(tmp_path / "absent.yaml") == ["no such file"]


def test_yaml_on_key_trap_is_caught(tmp_path):
    # YAML 1.1 reads a bare `on` as true: a spec author's classic slip must not pass silently.
    path = write(tmp_path, MINIMAL.replace("http: {path: /ping, expect: {status: 200}}",
                                           "compose: {rule: depends_on, role: web, on: web}"))
    assert any("True" in p or "unexpected" in p for p in problems_of(path))


def test_schema_file_in_specs_is_the_generated_schema():
    on_disk = json.loads((ROOT / "specs" / "spec.schema.json").read_text())
    assert on_disk == json.loads(json.dumps(spec_schema(registry()))), \
        "specs/spec.schema.json is stale: run `python runner.py schema --out specs/spec.schema.json`"


def test_after_orders_without_coupling_and_must_name_a_check(tmp_path):
    text = MINIMAL + """\
      - id: second
        points: 0
        after: [ping]
        http: {path: /two}
"""
    spec = load_spec(write(tmp_path, text))
    second = spec.check("api.second")
    assert second.after == ("api.ping",) and second.needs == ()
    bad = write(tmp_path, text.replace("after: [ping]", "after: [pong]"))
    assert any("no check 'pong' to wait for" in p for p in problems_of(bad))


def test_a_check_runs_on_a_named_copy_of_the_stack(tmp_path):
    text = MINIMAL.replace("parts:", "copies:\n  side: {start: [web]}\nparts:").replace(
        "        http: {path: /ping", "        copy: side\n        http: {path: /ping")
    spec = load_spec(write(tmp_path, text))
    assert spec.copies["side"].start == ("web",) and spec.check("api.ping").copy == "side"


def test_an_unknown_copy_or_a_copy_of_an_unknown_role_is_named_with_its_line(tmp_path):
    text = MINIMAL.replace("parts:", "copies:\n  side: {start: [db]}\nparts:").replace(
        "        http: {path: /ping", "        copy: elsewhere\n        http: {path: /ping")
    problems = problems_of(write(tmp_path, text))
    assert any(":5: copies.side.start[0]: role 'db' is not defined" in p for p in problems), problems
    assert any(".checks[0].copy: no copy 'elsewhere' in `copies` (defined: side)" in p for p in problems), problems


def test_an_unknown_filter_is_a_spec_error_naming_the_known_ones(tmp_path):
    path = write(tmp_path, MINIMAL.replace("inputs:", "").replace("roles:", "inputs:\n  who: {kind: email}\nroles:")
                 .replace("path: /ping,", "path: '/ping/{who|shout}',"))
    (problem,) = problems_of(path)
    assert "no filter '|shout'" in problem and "upper" in problem


def test_a_check_types_own_meaning_checks_name_the_path(tmp_path):
    path = write(tmp_path, MINIMAL.replace("roles:", "roles:\n  redis: {names: [redis], port: 6379}")
                 .replace("http: {path: /ping, expect: {status: 200}}", "redis: {set: tags, index: 0}"))
    (problem,) = problems_of(path)
    assert ".checks[0].redis: `index` does not apply to `set`" in problem


def test_a_misspelt_key_is_named_at_its_line_with_the_nearest_known_one(tmp_path):
    text = MINIMAL.replace("version: 1", "version: 1\ntitel: Lab") + "        timout_s: 5\n"
    problems = problems_of(write(tmp_path, text))
    assert any(p.endswith(":2: titel: unknown key 'titel'; did you mean 'title'?") for p in problems), problems
    assert any("unknown key 'timout_s'; did you mean 'timeout_s'?" in p for p in problems), problems


# --- fallback_for: a check graded only where the one it stands in for cannot be --------------

PRIMARY_AND_FALLBACKS = """\
version: 1
roles:
  web: {names: [web], port: 8000}
parts:
  - id: chat
    points: 6
    checks:
      - id: in_browser
        points: 6
        requires: [browser]
        browser: {steps: [{wait_text: hi}]}
      - id: page
        points: 4
        fallback_for: in_browser
        http: {path: /}
      - id: page_location
        points: 2
        fallback_for: in_browser
        needs: [page]
        http: {path: /}
"""


def test_fallbacks_stand_in_for_a_check_that_requires_a_browser_and_count_once(tmp_path):
    spec = load_spec(write(tmp_path, PRIMARY_AND_FALLBACKS))
    assert [c.id for c in spec.fallbacks("chat.in_browser")] == ["page", "page_location"]
    assert spec.parts[0].points == 6  # the part is 6 with the browser or without, never 12


def test_the_lab_grades_its_chat_page_in_a_browser_with_the_text_search_as_fallback():
    spec = load_spec(ROOT / "specs" / "lab4.yaml")
    browser = spec.check("websocket.chat_in_browser")
    assert browser.requires == {"browser"} and browser.type == "browser"
    fallbacks = spec.fallbacks("websocket.chat_in_browser")
    assert {c.id for c in fallbacks} == {"chat_page"}  # page_uses_location is advice, graded everywhere
    assert sum(c.points for c in fallbacks) == browser.points


@pytest.mark.parametrize("change, problem", [
    (("fallback_for: in_browser\n        http", "fallback_for: nowhere\n        http"),
     "no check 'chat.nowhere' in part 'chat' to stand in for"),
    (("        requires: [browser]\n", ""), "requires nothing, so it is always graded"),
    (("points: 4\n", "points: 3\n"), "its fallbacks (chat.page, chat.page_location) add up to 5"),
    (("        fallback_for: in_browser\n        needs: [page]", "        fallback_for: page\n        needs: [page]"),
     "'chat.page' is itself a fallback: fallbacks do not chain"),
])
def test_a_fallback_that_cannot_stand_in_is_refused_with_its_reason(tmp_path, change, problem):
    text = PRIMARY_AND_FALLBACKS.replace(*change, 1)
    problems = problems_of(write(tmp_path, text))
    assert any(problem in p for p in problems), problems


def test_no_other_check_may_need_a_check_graded_in_some_gradings_only(tmp_path):
    text = PRIMARY_AND_FALLBACKS.replace("    points: 6\n    checks", "    points: 7\n    checks") + """\
      - id: later
        points: 1
        needs: [page]
        http: {path: /later}
"""
    problems = problems_of(write(tmp_path, text))
    assert any("'chat.page' is graded in some gradings only" in p for p in problems), problems


def test_hint_when_accepts_exactly_the_causes_a_check_can_report():
    from graders.checks._causes import CAUSES

    hint_when = spec_schema(registry())["$defs"]["check"]["properties"]["hint_when"]
    assert sorted(hint_when["propertyNames"]["enum"]) == sorted(CAUSES)
