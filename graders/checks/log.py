"""`log`: a line appears in a file inside a role's container within N seconds."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from graders.checks import CheckContext, check_type
from graders.checks._expect import short
from graders.i18n import _
from graders.results import Outcome

SCHEMA = {
    "type": "object",
    "required": ["role", "file"],
    "additionalProperties": False,
    "properties": {
        "role": {"type": "string", "description": "whose container (every replica's file is read)"},
        "file": {"type": "string", "description": "path in the container; relative to its working directory"},
        "contains": {"type": "string", "description": "a line must contain this text"},
        "matches": {"type": "string", "description": "a line must match this regular expression"},
        "within_s": {"type": "number", "exclusiveMinimum": 0,
                     "description": "the line must appear within this (default 20 s)"},
        "poll_s": {"type": "number", "exclusiveMinimum": 0, "description": "time between reads (default 0.5 s)"},
    },
    "anyOf": [{"required": ["contains"]}, {"required": ["matches"]}],
}


def find_line(text: str, contains: str | None, pattern: re.Pattern | None) -> str | None:
    for line in text.splitlines():
        if (contains is None or contains in line) and (pattern is None or pattern.search(line)):
            return line
    return None


EXAMPLE = """\
- id: log_line
  points: 5
  needs: [responds_fast]
  log: {role: web, file: log.txt, contains: "notification for {email}: {message}", within_s: 20}
- id: worker_started
  points: 1
  log: {role: worker, file: /app/worker.log, matches: "^Worker started", within_s: 10}
"""


@check_type("log", schema=SCHEMA, example=EXAMPLE)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    body = ctx.render(body)
    service = ctx.service(body["role"])
    contains = body.get("contains")
    pattern = re.compile(body["matches"]) if body.get("matches") else None
    wanted = repr(contains) if contains is not None else f"/{body['matches']}/"
    within = float(body.get("within_s", 20))
    deadline = time.monotonic() + within
    text, error = "", None
    while True:
        try:
            text = (await asyncio.to_thread(ctx.backend.read_file, service, body["file"])).decode(
                "utf-8", errors="replace")
            error = None
        except FileNotFoundError as exc:
            error = str(exc)
        if (line := find_line(text, contains, pattern)) is not None:
            return Outcome.ok(_("{file} in '{service}' has the line: {line}", file=body['file'], service=service,
                                line=short(line, 120)))
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(float(body.get("poll_s", 0.5)))
    if error:
        return Outcome.fail(_("{file} never appeared in service '{service}' within {within} s (looked in its working "
                              "directory)", file=body['file'], service=service, within=format(within, "g")))
    tail = "\n".join(text.splitlines()[-5:])
    return Outcome.fail(_("no line with {wanted} in {file} of '{service}' within {within} s; last lines: {value}",
                          wanted=wanted, file=body['file'], service=service, within=format(within, "g"),
                          value=short(tail, 200) if tail else '(file is empty)'))
