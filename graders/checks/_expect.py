"""Comparing what a submission answered with what a spec expects. Pure functions."""

from __future__ import annotations

import json
from typing import Any

from graders.i18n import _

MISSING = object()


def get_path(data: Any, dotted: str) -> Any:
    """`a.b.0.c` into nested dicts and lists; MISSING when any step is absent."""
    current = data
    for key in dotted.split("."):
        if isinstance(current, dict) and key in current:
            current = current[key]
        elif isinstance(current, list) and key.isdigit() and int(key) < len(current):
            current = current[int(key)]
        else:
            return MISSING
    return current


def mismatches(expected: Any, actual: Any, where: str = "") -> list[str]:
    """What differs, with dicts compared as subsets (extra keys are fine)."""
    label = where or _("the value")
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [_("{label}: expected an object, got {actual}", label=label, actual=shown(actual))]
        found = []
        for key, value in expected.items():
            if key not in actual:
                found.append(_("{value}{key}: missing", value=where + '.' if where else '', key=key))
            else:
                found += mismatches(value, actual[key], f"{where + '.' if where else ''}{key}")
        return found
    if not same_value(expected, actual):
        return [_("{label}: expected {expected}, got {actual}", label=label, expected=shown(expected),
                  actual=shown(actual))]
    return []


def same_value(expected: Any, actual: Any) -> bool:
    """Equal, or the same scalar in another JSON type: an id the API returned as 1 and stored as
    "1" is one id (the contract fixes values, not their JSON types). Booleans stay booleans."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if expected == actual:
        return True
    scalars = (str, int, float)
    return isinstance(expected, scalars) and isinstance(actual, scalars) and _as_text(expected) == _as_text(actual)


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def missing_keys(keys: list[str], actual: Any) -> list[str]:
    return [k for k in keys if get_path(actual, k) is MISSING]


def shown(value: Any, limit: int = 160) -> str:
    """A value as JSON (strings in quotes, so `"not found"` reads as one value)."""
    return short(json.dumps(value, ensure_ascii=False, default=str), limit)


def short(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + _("... ({text} chars)", text=len(text))


def parse_json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return MISSING


def find_match(expected: Any, items: list[Any]) -> tuple[Any, list[str]]:
    """The first item containing `expected` (MISSING if none), and the problems of the closest one."""
    best: list[str] | None = None
    for item in items:
        problems = mismatches(expected, item)
        if not problems:
            return item, []
        if best is None or len(problems) < len(best):
            best = problems
    return MISSING, best or []
