"""The JSON Schema of a spec, assembled from the skeleton here and each check type's own
fragment, so a new check type brings its schema along. `specs/spec.schema.json` is this,
written out (`runner.py schema`) for editors; a test keeps the two equal. Every option has a
`description`: docs/spec.md is generated from them (a test fails on one without)."""

from __future__ import annotations

from typing import Any

# What each input kind draws (graders.template.generate draws them; a test keeps the two in step).
INPUT_KINDS = {
    "email": "a fresh address like `cedar.1f2e3d4c@example.org`",
    "words": "`count` words (default 3), the last a random hex token: `amber delta 9c0ffee1`",
    "uuid": "a random UUID4 as text",
    "int": "an integer between `min` (default 1) and `max` (default 1000000)",
    "json_object": "an object `{job: text, count: int, urgent: bool}`, different each run",
    "const": "always `value` (any YAML value): for a fixed input that still reads as `{name}`",
}
HINT = {
    "description": "Advice for the student: one text, or one per language code (ru, en).",
    "oneOf": [
        {"type": "string"},
        {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"},
         "propertyNames": {"pattern": "^[a-z]{2}$"}},
    ],
}

GLOBS = {"type": "array", "items": {"type": "string"}}
ROLE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "names": {**GLOBS, "description": "usual service names, tried first"},
        "image": {**GLOBS, "description": "image globs, e.g. `redis*`: a service running such an image plays it"},
        "command": {**GLOBS, "description": "command globs, e.g. `*celery*worker*`"},
        "not_command": {**GLOBS, "description": "command globs that rule a service out"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535,
                 "description": "container port the grader probes; published on loopback"},
        "probe": {"enum": ["http", "tcp"], "description": "readiness on `port` (default tcp): any HTTP status "
                                                          "line, or a TCP connection; awaited at start and after "
                                                          "every start, restart or scale"},
        "service": {"type": "string", "description": "pin the role to this service name"},
        "optional": {"type": "boolean", "description": "no service playing it is not reported as a problem "
                                                       "(checks that use it still fail)"},
    },
}

INPUT = {
    "type": "object",
    "required": ["kind"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": list(INPUT_KINDS), "description": "what is drawn: " + "; ".join(
            f"`{kind}`: {text}" for kind, text in INPUT_KINDS.items())},
        "count": {"type": "integer", "minimum": 1, "maximum": 50, "description": "with `words`: how many"},
        "min": {"type": "integer", "description": "with `int`: the smallest value"},
        "max": {"type": "integer", "description": "with `int`: the largest value"},
        "value": {"description": "with `const`: the value"},
    },
}

ID = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
SECONDS = {"type": "number", "exclusiveMinimum": 0}


def spec_schema(types: dict[str, Any]) -> dict[str, Any]:
    """`types` maps a check type name to its CheckType (with `.schema` and `.usable_as_step`)."""
    type_refs = {name: {"$ref": f"#/$defs/{name}"} for name in sorted(types)}
    step_refs = {name: ref for name, ref in type_refs.items() if types[name].usable_as_step}
    check = {
        "type": "object",
        "required": ["id", "points"],
        "additionalProperties": False,
        "properties": {
            "id": {**ID, "description": "unique in its part; `part.id` elsewhere"},
            "title": {**HINT, "description": "what the check proves, for the report (text, or {ru: …, en: …})"},
            "points": {"type": "number", "minimum": 0, "description": "earned when the check passes"},
            "needs": {"type": "array", "items": {"type": "string"},
                      "description": "checks that must pass first: `id` in this part or `part.id`; "
                                     "otherwise this one is skipped, not failed twice"},
            "after": {"type": "array", "items": {"type": "string"},
                      "description": "checks that must have finished first, whatever their result "
                                     "(orders use of a shared service without coupling verdicts)"},
            "stage": {"type": "integer", "minimum": 0, "maximum": 9,
                      "description": "stages run in order; checks of one stage run concurrently; after a "
                                     "stage, what its checks stopped or scaled is put back"},
            "visibility": {"enum": ["visible", "hidden", "after_due_date"],
                           "description": "`hidden` / `after_due_date`: left out of a student's report "
                                          "(`--audience student`); the points still count"},
            "hint": HINT,
            "contract": {**HINT, "description": "the line of the assignment this check enforces (text, or "
                                                "{ru: …, en: …}); shown in `describe` and beside a failure"},
            "hint_when": {"type": "object", "propertyNames": {"enum": ["route_missing", "method_not_allowed",
                                                                       "server_error", "refused", "timeout",
                                                                       "exited", "wrong_type", "not_reached"]},
                          "additionalProperties": HINT,
                          "description": "a hint per kind of failure, so the hint matches what happened (a "
                                         "missing route, a crash, a refused connection, a lifecycle that "
                                         "never reached its final state …); without one the grader's own hint "
                                         "for that kind is shown, or the check's when the grader has none"},
            "advice": {"type": "boolean",
                       "description": "good practice the assignment does not require: reported, never scored "
                                      "(needs `points: 0`)"},
            "timeout_s": {**SECONDS, "description": "this check's time limit (default: `timeouts.check_s`)"},
            "requires": {"type": "array", "items": {"enum": ["docker", "browser"]}, "uniqueItems": True,
                         "description": "capabilities the check needs (`docker`: the Docker backend; "
                                        "`browser`: a headless Chromium the backend can put beside the "
                                        "stack); without them it is left out of the score, or its "
                                        "fallbacks are graded instead"},
            "fallback_for": {"type": "string",
                             "description": "a check (`id` in this part) that `requires` something: this one "
                                            "is graded only where that is missing, in its place; the points "
                                            "of its fallbacks add up to its own"},
            "setup": {"type": "array", "items": {"$ref": "#/$defs/step"},
                      "description": "steps run first, in order (`http` requests, `stack` actions); a step "
                                     "that fails fails the check"},
            "copy": {"type": "string", "description": "run on this copy of the stack (see `copies`) instead "
                                                      "of the main one; backends without copies use the main"},
            **type_refs,
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Grader spec",
        "type": "object",
        "required": ["version", "parts"],
        "additionalProperties": False,
        "properties": {
            "version": {"const": 1, "description": "the spec language's version: 1"},
            "title": {**HINT, "description": "the assignment's name, for reports (text, or {ru: …, en: …})"},
            "inputs": {"type": "object", "propertyNames": ID, "additionalProperties": INPUT,
                       "description": "values drawn fresh each grading, used as `{name}` in checks"},
            "roles": {"type": "object", "propertyNames": ID, "additionalProperties": ROLE,
                      "description": "how each service is found whatever the student named it"},
            "generated_stack": {"type": "boolean",
                                "description": "true (default): a submission with a Dockerfile and no compose "
                                               "file is graded in a generated stack (web + redis); false: it "
                                               "is told to write a compose file, and nothing runs"},
            "timeouts": {
                "type": "object",
                "additionalProperties": False,
                "description": "seconds for the build, the start, each check and the whole grading "
                               "(the CLI's --*-timeout flags override them)",
                "properties": {
                    "build_s": {**SECONDS, "description": "the image build (default 900)"},
                    "start_s": {**SECONDS, "description": "the start, until every probed port answers "
                                                          "(default 120)"},
                    "check_s": {**SECONDS, "description": "each check, its setup included (default 90)"},
                    "total_s": {**SECONDS, "description": "the whole grading (default 1800)"},
                },
            },
            "copies": {
                "type": "object", "propertyNames": ID,
                "description": "copies of the student's stack started beside the main one, for checks that "
                               "need a service to themselves (stop, scale, a quiet queue) and would otherwise "
                               "wait for each other; `after` between checks on different stacks is dropped",
                "additionalProperties": {
                    "type": "object", "required": ["start"], "additionalProperties": False,
                    "properties": {"start": {"type": "array", "minItems": 1, "items": {"type": "string"},
                                             "description": "roles to start (with what they depend on)"}},
                },
            },
            "limits": {
                "type": "object", "additionalProperties": False,
                "description": "caps on one grading as a whole (its copies of the stack included), over the "
                               "per-container limits",
                "properties": {
                    "memory": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?[kmgKMG]?$",
                               "description": "all containers together, e.g. 4g"},
                    "cpus": {"type": "number", "exclusiveMinimum": 0, "description": "all containers together"},
                    "pids": {"type": "integer", "minimum": 64, "description": "all containers together"},
                    "services": {"type": "integer", "minimum": 1,
                                 "description": "services a compose file may have (more is refused)"},
                },
            },
            "policy": {
                "type": "object", "additionalProperties": False,
                "description": "exceptions to the grader's policy (docs/policy.md) this assignment needs",
                "properties": {
                    "images": {"type": "array", "items": {"type": "string"},
                               "description": "globs of images that exist only on the grading machine and that "
                                              "builds and services may still use (a course's own base image)"},
                    "registries": {"type": "array", "items": {"type": "string"},
                                   "description": "globs of registries on the grading machine's own network "
                                                  "(loopback, private addresses) that images may come from"},
                },
            },
            "parts": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/part"},
                      "description": "the graded parts, in report order"},
        },
        "$defs": {
            "part": {
                "type": "object",
                "required": ["id", "checks"],
                "additionalProperties": False,
                "properties": {
                    "id": {**ID, "description": "unique among parts"},
                    "title": {**HINT, "description": "the part's name, for reports (text, or {ru: …, en: …})"},
                    "points": {"type": "number", "minimum": 0,
                               "description": "must equal the sum of its checks' points (a guard against typos)"},
                    "bonus": {"type": "boolean", "description": "its points come on top of the maximum"},
                    "checks": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/check"},
                               "description": "each with `id`, `points` and exactly one check type"},
                },
            },
            "check": check,
            "step": {"type": "object", "minProperties": 1, "maxProperties": 1,
                     "additionalProperties": False, "properties": step_refs},
            **{name: types[name].schema for name in sorted(types)},
        },
    }
