"""Randomised inputs and `{name}` templating of check bodies.

Inputs are drawn fresh each run, so a submission that hard-codes an expected answer fails.
A placeholder may pass its value through filters, left to right: `{name|upper}`,
`{payload|json|len}`. The filters are a small fixed set (FILTERS), documented in docs/spec.md.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

# `{name}` or `{name|filter|filter}`; anything else in braces (a regex's `{2}`, JSON) is text.
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)((?:\|[a-z]+)*)\}")

WORDS = (
    "amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "jasper",
    "kelp", "lumen", "meadow", "nectar", "onyx", "pollen", "quartz", "raven", "saffron", "tundra",
    "umber", "velvet", "willow", "xenon", "yarrow", "zephyr",
)

def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _length(value: Any) -> int:
    return len(value) if isinstance(value, (str, list, dict)) else len(_as_text(value))


def _other(value: Any) -> Any:
    """A value of the same shape that is not `value`: the id an API never issued, shaped like
    the ones it does (an integer route answers 422 to a UUID, a UUID route to an integer)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value + 10**9
    text = _as_text(value)
    if text.isdigit():
        return str(int(text) + 10**9)
    try:
        return str(uuid.UUID(bytes=uuid.uuid5(uuid.UUID(text), "other").bytes, version=4))
    except ValueError:
        return text[::-1] if text[::-1] != text else text + "0"


# name -> (function, description). Fixed on purpose: a spec stays readable without the source.
FILTERS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "upper": (lambda v: _as_text(v).upper(), "the text in upper case: `{name|upper}`"),
    "lower": (lambda v: _as_text(v).lower(), "the text in lower case"),
    "len": (_length, "the length (characters of a text, items of a list, keys of an object) as an integer"),
    "json": (lambda v: json.dumps(v, ensure_ascii=False), "the value as JSON text (`{payload|json}` is the "
                                                           "string `{\"job\": ...}`, not the object)"),
    "str": (_as_text, "the value as text: a whole-string `\"{count|str}\"` sends `\"42\"`, not `42`"),
    "urlencode": (lambda v: quote(_as_text(v), safe=""), "percent-encoded for a URL path segment: "
                                                         "`/search/{words|urlencode}`"),
    "other": (_other, "another value of the same shape, never the same: an integer (or digits) plus 10^9, "
                      "another UUID4 for a UUID, the text reversed: `/task/{task_id|other}` is an id the "
                      "API never issued, of the type its route accepts"),
}


def generate(kind: str, options: dict[str, Any], rng: random.Random) -> Any:
    token = f"{rng.getrandbits(32):08x}"
    if kind == "email":
        return f"{rng.choice(WORDS)}.{token}@example.org"
    if kind == "words":
        count = int(options.get("count", 3))
        return " ".join([*(rng.choice(WORDS) for _ in range(max(count - 1, 0))), token])
    if kind == "uuid":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if kind == "int":
        return rng.randint(int(options.get("min", 1)), int(options.get("max", 10**6)))
    if kind == "json_object":
        return {"job": f"{rng.choice(WORDS)}-{token}", "count": rng.randint(1, 999), "urgent": rng.random() < 0.5}
    if kind == "const":
        return options["value"]
    raise ValueError(f"unknown input kind {kind!r}")


def draw_inputs(inputs: dict[str, dict[str, Any]], seed: int | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    return {name: generate(opts["kind"], opts, rng) for name, opts in inputs.items()}


def _strings(value: Any):
    """Every string of a body, keys included, at any depth."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def placeholders(value: Any) -> set[str]:
    """Every `{name}` a body refers to, at any depth (the names, without their filters)."""
    return {m.group(1) for text in _strings(value) for m in PLACEHOLDER.finditer(text)}


def unknown_filters(value: Any) -> set[str]:
    """Filters a body uses that FILTERS does not have."""
    used = {f for text in _strings(value) for m in PLACEHOLDER.finditer(text) for f in m.group(2).split("|") if f}
    return used - set(FILTERS)


def _apply(match: re.Match, variables: dict[str, Any]) -> Any:
    value = variables[match.group(1)]
    for name in filter(None, match.group(2).split("|")):
        value = FILTERS[name][0](value)
    return value


def _known(match: re.Match, variables: dict[str, Any]) -> bool:
    return match.group(1) in variables and all(f in FILTERS for f in match.group(2).split("|") if f)


def render(value: Any, variables: dict[str, Any]) -> Any:
    """Fill `{name}` placeholders. A string that is exactly one placeholder takes the
    variable's own value (so `json: "{payload}"` sends an object, not its text), after its
    filters (`"{message|len}"` is an integer). Unknown names are left as they are."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole and _known(whole, variables):
            return _apply(whole, variables)
        return PLACEHOLDER.sub(lambda m: _as_text(_apply(m, variables)) if _known(m, variables) else m.group(0),
                               value)
    if isinstance(value, dict):
        # Keys stay text (JSON object keys are strings), even when a key is a whole placeholder.
        return {_as_text(render(k, variables)): render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    return value
