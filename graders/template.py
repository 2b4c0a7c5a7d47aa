"""Randomised inputs and `{name}` templating of check bodies.

Inputs are drawn fresh each run, so a submission that hard-codes an expected answer fails.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from typing import Any

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

WORDS = (
    "amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "jasper",
    "kelp", "lumen", "meadow", "nectar", "onyx", "pollen", "quartz", "raven", "saffron", "tundra",
    "umber", "velvet", "willow", "xenon", "yarrow", "zephyr",
)


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


def placeholders(value: Any) -> set[str]:
    """Every `{name}` a body refers to, at any depth."""
    if isinstance(value, str):
        return set(PLACEHOLDER.findall(value))
    if isinstance(value, dict):
        return set().union(*(placeholders(v) for v in value.values()), *(placeholders(k) for k in value))
    if isinstance(value, list):
        return set().union(*(placeholders(v) for v in value)) if value else set()
    return set()


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def render(value: Any, variables: dict[str, Any]) -> Any:
    """Fill `{name}` placeholders. A string that is exactly one placeholder takes the
    variable's own value (so `json: "{payload}"` sends an object, not its text)."""
    if isinstance(value, str):
        whole = PLACEHOLDER.fullmatch(value)
        if whole and whole.group(1) in variables:
            return variables[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: _as_text(variables[m.group(1)]) if m.group(1) in variables
                               else m.group(0), value)
    if isinstance(value, dict):
        return {render(k, variables): render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    return value
