"""The JSON Schema of a spec, assembled from the skeleton here and each check type's own
fragment, so a new check type brings its schema along. `specs/spec.schema.json` is this,
written out (`runner.py schema`) for editors; a test keeps the two equal."""

from __future__ import annotations

from typing import Any

HINT = {
    "description": "Advice for the student: one text, or one per language code (ru, en).",
    "oneOf": [
        {"type": "string"},
        {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"},
         "propertyNames": {"pattern": "^[a-z]{2}$"}},
    ],
}

ROLE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "names": {"type": "array", "items": {"type": "string"}, "description": "usual service names"},
        "image": {"type": "array", "items": {"type": "string"}, "description": "image globs, e.g. redis*"},
        "command": {"type": "array", "items": {"type": "string"}, "description": "command globs"},
        "not_command": {"type": "array", "items": {"type": "string"}},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535,
                 "description": "container port the grader probes; published on loopback"},
        "probe": {"enum": ["http", "tcp"], "description": "readiness on `port`: HTTP answers, or TCP accepts"},
        "service": {"type": "string", "description": "pin the role to this service name"},
        "optional": {"type": "boolean"},
    },
}

INPUT = {
    "type": "object",
    "required": ["kind"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": ["email", "words", "uuid", "int", "json_object", "const"]},
        "count": {"type": "integer", "minimum": 1, "maximum": 50},
        "min": {"type": "integer"},
        "max": {"type": "integer"},
        "value": {},
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
            "id": ID,
            "title": {"type": "string"},
            "points": {"type": "number", "minimum": 0},
            "needs": {"type": "array", "items": {"type": "string"},
                      "description": "checks that must pass first: `id` in this part or `part.id`"},
            "after": {"type": "array", "items": {"type": "string"},
                      "description": "checks that must have finished first, whatever their result "
                                     "(orders use of a shared service without coupling verdicts)"},
            "stage": {"type": "integer", "minimum": 0, "maximum": 9,
                      "description": "stages run in order; checks of one stage run concurrently"},
            "visibility": {"enum": ["visible", "hidden", "after_due_date"]},
            "hint": HINT,
            "timeout_s": SECONDS,
            "requires": {"type": "array", "items": {"enum": ["docker", "browser"]}, "uniqueItems": True,
                         "description": "capabilities the check needs (`docker`: the Docker backend; "
                                        "`browser`: a headless Chromium the backend can put beside the "
                                        "stack); without them it is left out of the score, or its "
                                        "fallbacks are graded instead"},
            "fallback_for": {"type": "string",
                             "description": "a check (`id` in this part) that `requires` something: this one "
                                            "is graded only where that is missing, in its place; the points "
                                            "of its fallbacks add up to its own"},
            "setup": {"type": "array", "items": {"$ref": "#/$defs/step"}},
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
            "version": {"const": 1},
            "title": {"type": "string"},
            "inputs": {"type": "object", "propertyNames": ID, "additionalProperties": INPUT},
            "roles": {"type": "object", "propertyNames": ID, "additionalProperties": ROLE},
            "timeouts": {
                "type": "object",
                "additionalProperties": False,
                "properties": {k: SECONDS for k in ("build_s", "start_s", "check_s", "total_s")},
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
            "parts": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/part"}},
        },
        "$defs": {
            "part": {
                "type": "object",
                "required": ["id", "checks"],
                "additionalProperties": False,
                "properties": {
                    "id": ID,
                    "title": {"type": "string"},
                    "points": {"type": "number", "minimum": 0},
                    "bonus": {"type": "boolean"},
                    "checks": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/check"}},
                },
            },
            "check": check,
            "step": {"type": "object", "minProperties": 1, "maxProperties": 1,
                     "additionalProperties": False, "properties": step_refs},
            **{name: types[name].schema for name in sorted(types)},
        },
    }
