"""`http`: one request to a role's service, and what its answer must be."""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import jsonschema

from graders.checks import CheckContext, CheckFailed, check_type
from graders.checks._expect import MISSING, get_path, mismatches, missing_keys, parse_json, short
from graders.results import Outcome

BODY_CAP = 256 * 1024  # bytes of a response body kept; a huge answer is cut, not swallowed whole

REQUEST = {
    "role": {"type": "string", "description": "whose port to call (default: web)"},
    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]},
    "path": {"type": "string", "pattern": "^/"},
    "query": {"type": "object"},
    "form": {"type": "object"},
    "json": {"description": "a JSON body: any value, or a `{input}` placeholder"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
    "save": {"type": "object", "additionalProperties": {"type": "string"},
             "description": "variable name -> dotted path in the JSON answer"},
}

EXPECT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "status": {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
        "json_keys": {"type": "array", "items": {"type": "string"}},
        "json": {"description": "the JSON answer must contain this (objects compared as subsets)"},
        "json_or_404": {"description": "a 404 passes; any other answer must contain this JSON"},
        "json_schema": {"type": "object"},
        "body_contains": {"type": "array", "items": {"type": "string"}},
        "follow_scripts": {"type": "boolean",
                           "description": "search `body_contains` in the page's own scripts too (same-origin "
                                          "<script src>, at most 8): a chat script in /static/chat.js counts"},
        "content_type": {"type": "string"},
        "max_latency_s": {"type": "number", "exclusiveMinimum": 0,
                          "description": "the answer's time bound; an answer correct but for its time is "
                                         "asked once more (a cold first call), and the second time counts"},
    },
}

SCHEMA = {
    "type": "object",
    "required": ["path"],
    "additionalProperties": False,
    "properties": {**REQUEST, "expect": EXPECT},
}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes
    latency_s: float
    url: str
    truncated: bool = False  # the body was longer than BODY_CAP; only its start was read

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def excerpt(self) -> str:
        cut = f" (only the first {BODY_CAP // 1024} KB were read)" if self.truncated else ""
        return (short(self.text, 200) if self.body else "(empty body)") + cut


async def send(ctx: CheckContext, body: dict[str, Any]) -> Answer:
    """Send the request a body describes (already rendered) and read the answer, capped."""
    url = ctx.base_url(body.get("role", "web")) + body["path"]
    kwargs: dict[str, Any] = {"params": body.get("query"), "headers": body.get("headers")}
    if "form" in body:
        kwargs["data"] = {k: str(v) for k, v in body["form"].items()}
    if "json" in body:
        kwargs["json"] = body["json"]
    # Under the check's own timeout, so a hanging endpoint is named here, not by the engine.
    timeout = httpx.Timeout(max(1.0, min(ctx.timeout_s - 2, 30.0)), connect=5.0)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True, trust_env=False) as client:
        started = time.monotonic()
        try:
            async with client.stream(body.get("method", "GET"), url, **kwargs) as response:
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= BODY_CAP:
                        break
                latency = time.monotonic() - started
                return Answer(response.status_code, response.headers, b"".join(chunks)[:BODY_CAP], latency,
                              str(response.url), truncated=size >= BODY_CAP)
        except httpx.TimeoutException:
            raise_failed(f"{body.get('method', 'GET')} {body['path']} did not answer within {timeout.read:g} s")
        except httpx.HTTPError as exc:
            raise_failed(f"{body.get('method', 'GET')} {body['path']} failed: {type(exc).__name__}: {exc}")


def raise_failed(message: str, details: str = ""):
    raise CheckFailed(message, details)


def judge(answer: Answer, expect: dict[str, Any], what: str) -> list[str]:
    """Every way the answer misses the expectation, as sentences for the student."""
    problems: list[str] = []
    allowed = expect.get("status", 200)
    allowed = allowed if isinstance(allowed, list) else [allowed]
    if answer.status not in allowed:
        problems.append(f"{what} answered {answer.status}, expected {' or '.join(map(str, allowed))}; "
                        f"body: {answer.excerpt()}")
        return problems
    if "max_latency_s" in expect and answer.latency_s > expect["max_latency_s"]:
        problems.append(f"{what} took {answer.latency_s:.2f} s, expected under {expect['max_latency_s']:g} s "
                        f"(do the slow work in the background)")
    if "content_type" in expect and not answer.headers.get("content-type", "").startswith(expect["content_type"]):
        problems.append(f"{what} has Content-Type {answer.headers.get('content-type', '(none)')!r}, "
                        f"expected {expect['content_type']}")
    for needle in expect.get("body_contains", []):
        if needle not in answer.text:
            cut = f" (in its first {BODY_CAP // 1024} KB)" if answer.truncated else ""
            problems.append(f"{what}: the body does not contain {needle!r}{cut}")
    json_expectations = [k for k in ("json_keys", "json", "json_or_404", "json_schema") if k in expect]
    if json_expectations and not (answer.status == 404 and "json_or_404" in expect):
        data = parse_json(answer.body)
        if data is MISSING:
            problems.append(f"{what} is not JSON: {answer.excerpt()}")
            return problems
        if missing := missing_keys(expect.get("json_keys", []), data):
            problems.append(f"{what}: JSON lacks {', '.join(missing)}; got {short(data)}")
        for key in ("json", "json_or_404"):
            if key in expect and (diff := mismatches(expect[key], data)):
                problems.append(f"{what}: {'; '.join(diff)}")
        if "json_schema" in expect:
            error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(expect["json_schema"])
                                                     .iter_errors(data))
            if error is not None:
                problems.append(f"{what}: JSON does not match the schema: {error.message}")
    return problems


_SCRIPT_SRC = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
MAX_SCRIPTS = 8


async def with_own_scripts(ctx: CheckContext, rendered: dict[str, Any], page: Answer) -> Answer:
    """The page with the scripts it loads from its own origin appended (each capped, as any body)."""
    found = []
    for src in _SCRIPT_SRC.findall(page.text)[:MAX_SCRIPTS]:
        url = urlsplit(urljoin(page.url, src))
        if url.netloc != urlsplit(page.url).netloc:
            continue  # a CDN's script is not the student's
        path = url.path + (f"?{url.query}" if url.query else "")
        with contextlib.suppress(CheckFailed):
            script = await send(ctx, {"role": rendered.get("role", "web"), "method": "GET", "path": path})
            if script.status == 200:
                found.append(script.body)
    return replace(page, body=b"\n".join([page.body, *found])) if found else page


@check_type("http", schema=SCHEMA, usable_as_step=True)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    rendered = ctx.render(body)
    what = f"{rendered.get('method', 'GET')} {rendered['path']}"
    expect = rendered.get("expect", {})
    answer = await send(ctx, rendered)
    if expect.get("follow_scripts"):
        answer = await with_own_scripts(ctx, rendered, answer)
    problems = judge(answer, expect, what)
    first_try = ""
    if problems and not judge(answer, {k: v for k, v in expect.items() if k != "max_latency_s"}, what):
        # Slow and otherwise right: a first call pays for lazy imports and connections, so a
        # busy machine can push it over the bound. Work done inline is slow every time.
        first_try = f" (a first try took {answer.latency_s:.2f} s)"
        answer = await send(ctx, rendered)
        problems = [p + first_try for p in judge(answer, expect, what)]
    if problems:
        return Outcome.fail(problems[0], "\n".join(problems[1:]))
    data = parse_json(answer.body)
    for name, path in (rendered.get("save") or {}).items():
        value = get_path(data, path) if data is not MISSING else MISSING
        if value is MISSING or value in (None, ""):
            return Outcome.fail(f"{what}: no '{path}' in the answer to carry on with; got {answer.excerpt()}")
        ctx.save(name, value)
    return Outcome.ok(f"{what} answered {answer.status} in {answer.latency_s:.2f} s{first_try}")
