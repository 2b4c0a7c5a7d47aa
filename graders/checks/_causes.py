"""Why an answer was not what the spec expects, said the way a student can act on it: the route
the app has instead of the one asked for (from its /openapi.json, or for websockets from its
source), the last lines of a traceback behind a 500, what a refused connection usually means.

The kinds of cause (`Cause`) also pick the hint: a spec may give one per cause, and a missing
route or a crash gets the grader's own hint rather than the check's (which is about the feature).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import httpx

from graders.i18n import _

ROUTE_MISSING, METHOD, SERVER_ERROR, REFUSED, TIMEOUT, EXITED, WRONG_TYPE = (
    "route_missing", "method_not_allowed", "server_error", "refused", "timeout", "exited", "wrong_type")
NOT_REACHED = "not_reached"  # a lifecycle that never got to its final state: what it judges there was not seen
CAUSES = (ROUTE_MISSING, METHOD, SERVER_ERROR, REFUSED, TIMEOUT, EXITED, WRONG_TYPE, NOT_REACHED)

_WS_ROUTE = re.compile(r"""(?:\.websocket(?:_route)?\s*\(|add_websocket_route\s*\(|WebSocketRoute\s*\()\s*"""
                       r"""(?:path\s*=\s*)?[rbuf]?["']([^"']*)["']""")
_ROUTER_PREFIX = re.compile(r"""APIRouter\s*\([^)]*prefix\s*=\s*["']([^"']*)["']""")
MAX_SOURCE_FILES = 200
MAX_SOURCE_BYTES = 512 * 1024


def display(ctx: Any, role: str) -> str:
    """How a student names the service: `web:8000`, never the grader's own loopback port."""
    return f"{ctx.roles.get(role, role)}:{ctx.role_ports.get(role, '?')}"


def _template(path: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", path.split("?", 1)[0])


def _matches(route: str, path: str) -> bool:
    pattern = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(route)) + "/?$"
    return re.match(pattern, path.split("?", 1)[0].rstrip("/") or "/") is not None


async def app_routes(base_url: str) -> dict[str, set[str]] | None:
    """The app's HTTP routes and their methods from its OpenAPI document; None without one."""
    try:
        async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
            answer = await client.get(base_url + "/openapi.json")
        paths = answer.json().get("paths") if answer.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    if not isinstance(paths, dict):
        return None
    return {str(path): {m.upper() for m in ops if isinstance(ops, dict)} for path, ops in paths.items()
            if isinstance(ops, dict)}


def nearest(asked: str, known: list[str]) -> str | None:
    """The known route nearest to `asked` (templates compared with their parameters blanked)."""
    by_template = {_template(route): route for route in known}
    close = difflib.get_close_matches(_template(asked), list(by_template), n=1, cutoff=0.5)
    return by_template[close[0]] if close else None


async def explain_http(base_url: str, method: str, asked_path: str, rendered_path: str,
                       status: int) -> tuple[str, str]:
    """(cause, sentence) for a 404 or 405; ("", "") for anything else."""
    if status not in (404, 405):
        return "", ""
    routes = await app_routes(base_url)
    if routes is None:
        return (ROUTE_MISSING, _("the app has no route {method} {path}", method=method, path=asked_path)) \
            if status == 404 else (METHOD, _("{path} does not take {method}", path=asked_path, method=method))
    serving = [route for route in routes if _matches(route, rendered_path)]
    if serving and method not in set().union(*(routes[r] for r in serving)):
        methods = ", ".join(sorted(set().union(*(routes[r] for r in serving))))
        return METHOD, _("the route {route} exists but answers {methods}, not {method}",
                         route=serving[0], methods=methods, method=method)
    if serving:
        return "", ""  # the route exists: its own 404 ("not found") is the app's answer
    near = nearest(asked_path, [r for r in routes if method in routes[r]]) or nearest(asked_path, list(routes))
    if near:
        return ROUTE_MISSING, _("the app has no route {method} {path}; the nearest it has is {near}",
                                method=method, path=asked_path, near=f"{'/'.join(sorted(routes[near]))} {near}")
    return ROUTE_MISSING, _("the app has no route {method} {path}", method=method, path=asked_path)


def websocket_routes(source_root: Path | None) -> list[str]:
    """Websocket routes declared in the app's Python source: `@app.websocket("/x")`,
    `router.websocket(...)`, `add_websocket_route`, `WebSocketRoute` (OpenAPI does not list them).
    A router's `prefix` is joined when the file has one router."""
    if source_root is None or not source_root.is_dir():
        return []
    found: list[str] = []
    files = sorted(source_root.rglob("*.py"))[:MAX_SOURCE_FILES]
    for path in files:
        if any(part in {".venv", "venv", "site-packages", "node_modules"} for part in path.parts):
            continue
        try:
            text = path.read_bytes()[:MAX_SOURCE_BYTES].decode("utf-8", errors="replace")
        except OSError:
            continue
        prefixes = _ROUTER_PREFIX.findall(text)
        prefix = prefixes[0].rstrip("/") if len(prefixes) == 1 else ""
        found += [prefix + route for route in _WS_ROUTE.findall(text)]
    return sorted(set(found))


def explain_websocket(source_root: Path | None, asked_path: str, status: int) -> tuple[str, str]:
    """(cause, sentence) for a refused websocket handshake; Starlette answers 403 to a websocket
    request on a path it has no websocket route for."""
    if status not in (403, 404):
        return "", ""
    routes = websocket_routes(source_root)
    if asked_path in routes:
        return "", ""  # the route exists and refused the client itself
    if routes:
        return ROUTE_MISSING, _("expected a websocket route {path}; your app has {routes}",
                                path=asked_path, routes=", ".join(routes))
    return ROUTE_MISSING, _("expected a websocket route {path}; no websocket route was found in the app's code",
                            path=asked_path)


def traceback_tail(log: str, lines: int = 8) -> str:
    """The end of the last Python traceback in a service's log, or its last lines."""
    text = log.rstrip()
    start = text.rfind("Traceback (most recent call last)")
    tail = text[start:] if start >= 0 else text
    return "\n".join(tail.splitlines()[-lines:])


def source_root(ctx: Any, role: str = "web") -> Path | None:
    """The build context of the role's service (the app's source), else the submission."""
    services = ctx.stack_info.services if ctx.stack_info else {}
    build = (services.get(ctx.roles.get(role, ""), {}) or {}).get("build")
    context = build.get("context") if isinstance(build, dict) else build if isinstance(build, str) else None
    return Path(context) if context else ctx.submission
