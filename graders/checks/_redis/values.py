"""One Redis value as text or JSON (a hash field, a list element): `value`, `json`, `json_keys`."""

from __future__ import annotations

from typing import Any

from graders.checks._expect import MISSING, mismatches, missing_keys, parse_json, short, shown
from graders.results import Outcome


def judge_text(what: str, raw: bytes, body: dict[str, Any]) -> Outcome:
    text = raw.decode("utf-8", errors="replace")
    if "value" in body and text != str(body["value"]):
        return Outcome.fail(f"{what} is {shown(text)}, expected {shown(str(body['value']))}")
    if "json" in body or "json_keys" in body:
        data = parse_json(raw)
        if data is MISSING:
            return Outcome.fail(f"{what} is not JSON: {short(text)}")
        problems = mismatches(body.get("json", {}), data) + [
            f"{k}: missing" for k in missing_keys(body.get("json_keys", []), data)]
        if problems:
            return Outcome.fail(f"{what}: {'; '.join(problems)}", f"value: {short(text, 1000)}")
    return Outcome.ok(f"{what} holds {short(text, 120)}")
