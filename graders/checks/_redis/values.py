"""One Redis value as text or JSON (a hash field, a list element): `value`, `json`, `json_keys`."""

from __future__ import annotations

from typing import Any

from graders.checks._expect import MISSING, mismatches, missing_keys, parse_json, short, shown
from graders.i18n import _
from graders.results import Outcome


def judge_text(what: str, raw: bytes, body: dict[str, Any]) -> Outcome:
    text = raw.decode("utf-8", errors="replace")
    if "value" in body and text != str(body["value"]):
        return Outcome.fail(_("{what} is {text}, expected {value}", what=what, text=shown(text),
                              value=shown(str(body['value']))))
    if "json" in body or "json_keys" in body:
        data = parse_json(raw)
        if data is MISSING:
            return Outcome.fail(_("{what} is not JSON: {text}", what=what, text=short(text)))
        problems = mismatches(body.get("json", {}), data) + [
            _("{k}: missing", k=k) for k in missing_keys(body.get("json_keys", []), data)]
        if problems:
            return Outcome.fail(_("{what}: {problems}", what=what, problems='; '.join(problems)),
                                f"value: {short(text, 1000)}")
    return Outcome.ok(_("{what} holds {text}", what=what, text=short(text, 120)))
