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
from graders.checks._causes import (
    REFUSED,
    SERVER_ERROR,
    TIMEOUT,
    display,
    explain_http,
    traceback_tail,
)
from graders.checks._expect import MISSING, find_match, get_path, mismatches, missing_keys, parse_json, short
from graders.i18n import _
from graders.results import Outcome

BODY_CAP = 256 * 1024  # bytes of a response body kept; a huge answer is cut, not swallowed whole

REQUEST = {
    "role": {"type": "string", "description": "whose port to call (default: web)"},
    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
               "description": "the HTTP method (default: GET)"},
    "path": {"type": "string", "pattern": "^/", "description": "the path, placeholders filled: `/items/{item_id}`"},
    "query": {"type": "object", "description": "query parameters (name -> value)"},
    "form": {"type": "object", "description": "a form body (application/x-www-form-urlencoded)"},
    "json": {"description": "a JSON body: any value, or a `{input}` placeholder"},
    "headers": {"type": "object", "additionalProperties": {"type": "string"}, "description": "request headers"},
    "save": {"type": "object", "additionalProperties": {"type": "string"},
             "description": "variable name -> dotted path in the JSON answer"},
}

EXPECT = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "status": {"oneOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}],
                   "description": "the status, or a list of accepted ones (default: 200)"},
        "json_keys": {"type": "array", "items": {"type": "string"},
                      "description": "dotted paths that must be present in the JSON answer"},
        "json": {"description": "the JSON answer must contain this (objects compared as subsets)"},
        "json_or_404": {"description": "a 404 passes; any other answer must contain this JSON"},
        "json_schema": {"type": "object", "description": "a JSON Schema (draft 2020-12) the JSON answer must "
                                                          "match; `{placeholders}` inside it are filled too"},
        "contains_json": {"description": "the JSON answer is an array (or `items_at` names one) and some "
                                         "element contains this (objects as subsets)"},
        "not_contains_json": {"description": "the array has no element containing this (a deleted item is gone)"},
        "items_at": {"type": "string", "description": "dotted path of the array inside the JSON answer for "
                                                      "`contains_json` / `not_contains_json` (default: the answer)"},
        "body_contains": {"type": "array", "items": {"type": "string"},
                          "description": "texts the body must contain"},
        "follow_scripts": {"type": "boolean",
                           "description": "search `body_contains` in the page's own scripts too (same-origin "
                                          "<script src>, at most 8): a chat script in /static/chat.js counts"},
        "content_type": {"type": "string", "description": "the Content-Type must start with this"},
        "max_latency_s": {"type": "number", "exclusiveMinimum": 0,
                          "description": "the answer's time bound; an answer correct but for its time is "
                                         "asked once more (a cold first call), and the second time counts"},
    },
}

SCHEMA = {
    "type": "object",
    "required": ["path"],
    "additionalProperties": False,
    "properties": {**REQUEST, "expect": {**EXPECT, "description": "what the answer must be; no `expect`: "
                                                                  "status 200"}},
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
        cut = _(" (only the first {value} KB were read)", value=BODY_CAP // 1024) if self.truncated else ""
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
            raise_failed(_("{get} {path} did not answer within {read} s", get=body.get('method', 'GET'),
                           path=body['path'], read=format(timeout.read, "g")),
                         cause=TIMEOUT)
        except httpx.ConnectError as exc:
            raise_failed(_("{get} {path}: nothing answers on {display} ({exc})", get=body.get('method', 'GET'),
                           path=body['path'], display=display(ctx, body.get('role', 'web')), exc=exc), cause=REFUSED)
        except httpx.HTTPError as exc:
            raise_failed(_("{get} {path} failed: {name}: {exc}", get=body.get('method', 'GET'), path=body['path'],
                           name=type(exc).__name__, exc=exc))


def raise_failed(message: str, details: str = "", cause: str = ""):
    raise CheckFailed(message, details, cause)


def judge(answer: Answer, expect: dict[str, Any], what: str) -> list[str]:
    """Every way the answer misses the expectation, as sentences for the student."""
    problems: list[str] = []
    allowed = expect.get("status", 200)
    allowed = allowed if isinstance(allowed, list) else [allowed]
    if answer.status not in allowed:
        problems.append(_("{what} answered {status}, expected {map}; body: {excerpt}", what=what,
                          status=answer.status, map=' or '.join(map(str, allowed)), excerpt=answer.excerpt()))
        return problems
    if "max_latency_s" in expect and answer.latency_s > expect["max_latency_s"]:
        problems.append(_("{what} took {latency_s} s, expected under {max_latency_s} s (do the slow work in the "
                          "background)", what=what, latency_s=format(answer.latency_s, ".2f"),
                          max_latency_s=format(expect['max_latency_s'], "g")))
    if "content_type" in expect and not answer.headers.get("content-type", "").startswith(expect["content_type"]):
        problems.append(_("{what} has Content-Type {get}, expected {content_type}", what=what,
                          get=repr(answer.headers.get('content-type', '(none)')),
                          content_type=expect['content_type']))
    for needle in expect.get("body_contains", []):
        if needle not in answer.text:
            cut = _(" (in its first {value} KB)", value=BODY_CAP // 1024) if answer.truncated else ""
            problems.append(_("{what}: the body does not contain {needle}{cut}", what=what, needle=repr(needle),
                              cut=cut))
    json_expectations = [k for k in ("json_keys", "json", "json_or_404", "json_schema", "contains_json",
                                     "not_contains_json") if k in expect]
    if json_expectations and not (answer.status == 404 and "json_or_404" in expect):
        data = parse_json(answer.body)
        if data is MISSING:
            problems.append(_("{what} is not JSON: {excerpt}", what=what, excerpt=answer.excerpt()))
            return problems
        if missing := missing_keys(expect.get("json_keys", []), data):
            problems.append(_("{what}: JSON lacks {missing}; got {data}", what=what, missing=', '.join(missing),
                              data=short(data)))
        for key in ("json", "json_or_404"):
            if key in expect and (diff := mismatches(expect[key], data)):
                problems.append(_("{what}: {diff}", what=what, diff='; '.join(diff)))
        problems += judge_items(data, expect, what)
        if "json_schema" in expect:
            error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(expect["json_schema"])
                                                     .iter_errors(data))
            if error is not None:
                problems.append(_("{what}: JSON does not match the schema: {message}", what=what,
                                  message=error.message))
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


async def explained(ctx: CheckContext, body: dict[str, Any], rendered: dict[str, Any], answer: Answer,
                    problems: list[str]) -> Outcome:
    """The failure with its cause when the status says one: a route the app lacks (and the
    nearest it has), a method it does not take, a crash (the traceback's last lines)."""
    expect = rendered.get("expect", {})
    allowed = expect.get("status", 200)
    if answer.status in (allowed if isinstance(allowed, list) else [allowed]):
        return Outcome.fail(problems[0], "\n".join(problems[1:]))
    role, method = rendered.get("role", "web"), rendered.get("method", "GET")
    if answer.status >= 500:
        tail = traceback_tail(ctx.backend.logs(ctx.service(role), tail=80))
        seen = f"{problems[0]}\n{tail}" if tail else problems[0]
        return Outcome.fail(seen, "\n".join(problems[1:]), cause=SERVER_ERROR)
    cause, why = await explain_http(ctx.base_url(role), method, body["path"], rendered["path"], answer.status)
    if why:
        return Outcome.fail(_("{why} ({problems})", why=why, problems=problems[0]), "\n".join(problems[1:]),
                            cause=cause)
    return Outcome.fail(problems[0], "\n".join(problems[1:]))


def judge_items(data: Any, expect: dict[str, Any], what: str) -> list[str]:
    """`contains_json` / `not_contains_json`: an array answer holds (or lacks) a matching element."""
    if "contains_json" not in expect and "not_contains_json" not in expect:
        return []
    where = expect.get("items_at")
    items = get_path(data, where) if where else data
    if not isinstance(items, list):
        return [_("{what}: {value}the JSON answer is not an array: {data}", what=what,
                  value=f'{where} in ' if where else '', data=short(data))]
    problems = []
    if "contains_json" in expect:
        found, closest = find_match(expect["contains_json"], items)
        if found is MISSING:
            near = _("; closest: {closest}", closest='; '.join(closest)) if closest else ""
            problems.append(_("{what}: no element of the {items} in the array matches {contains_json}{near}",
                              what=what, items=len(items), contains_json=short(expect['contains_json']), near=near))
    if "not_contains_json" in expect:
        found, _unused = find_match(expect["not_contains_json"], items)
        if found is not MISSING:
            problems.append(_("{what}: the array still holds {found}", what=what, found=short(found)))
    return problems


EXAMPLE = """\
- id: create
  title: "POST /items creates an item and answers its id"
  points: 3
  http:
    method: POST
    path: /items
    json: {name: "{name}", price: "{price}"}  # a whole "{price}" stays a number
    expect: {status: [200, 201], json: {name: "{name}"}, json_keys: [id], max_latency_s: 1.0}
    save: {item_id: id}
- id: listed
  points: 2
  needs: [create]
  http:
    path: /items
    expect: {contains_json: {id: "{item_id}", name: "{name}"}}
- id: found_by_name
  points: 1
  needs: [create]
  http:
    path: "/search/{name|urlencode}"
    expect:
      json_schema: {type: array, minItems: 1, items: {properties: {name: {const: "{name}"}}}}
"""


@check_type("http", schema=SCHEMA, usable_as_step=True, example=EXAMPLE)
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
        first_try = _(" (a first try took {latency_s} s)", latency_s=format(answer.latency_s, ".2f"))
        answer = await send(ctx, rendered)
        problems = [p + first_try for p in judge(answer, expect, what)]
    if problems:
        return await explained(ctx, body, rendered, answer, problems)
    data = parse_json(answer.body)
    for name, path in (rendered.get("save") or {}).items():
        value = get_path(data, path) if data is not MISSING else MISSING
        if value is MISSING or value in (None, ""):
            return Outcome.fail(_("{what}: no '{path}' in the answer to carry on with; got {excerpt}", what=what,
                                  path=path, excerpt=answer.excerpt()))
        ctx.save(name, value)
    return Outcome.ok(_("{what} answered {status} in {latency_s} s{first_try}", what=what, status=answer.status,
                        latency_s=format(answer.latency_s, ".2f"), first_try=first_try))
