"""Load a spec: YAML -> JSON Schema -> meaning checks -> typed model.

Every problem names the file, the line and the path inside the document
(`parts[2].checks[0].http.status`), and says what was expected.
"""

from __future__ import annotations

import difflib
from graphlib import CycleError, TopologicalSorter
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from graders.checks import registry
from graders.spec.model import (
    CheckSpec,
    CopySpec,
    GradingLimits,
    PartSpec,
    RoleSpec,
    Spec,
    Step,
    Timeouts,
    roles_named,
)
from graders.spec.schema import spec_schema
from graders.template import FILTERS, placeholders, unknown_filters


class SpecError(Exception):
    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: invalid spec\n" + "\n".join(f"  - {p}" for p in problems))


def format_path(parts) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def line_of(node: yaml.Node | None, path) -> int:
    """The 1-based line of the deepest node on `path` that exists."""
    line = node.start_mark.line + 1 if node is not None else 0
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _schema_problems(data: Any, root: yaml.Node, where: str) -> list[str]:
    validator = jsonschema.Draft202012Validator(spec_schema(registry()))
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        unknown = _unknown_keys(error)
        if unknown:  # one line per misspelt key, at the key itself, with the nearest known one
            for key, near in unknown:
                hint = f"; did you mean '{near}'?" if near else f"; known: {', '.join(_known_keys(error))}"
                problems.append(f"{where}:{line_of(root, [*path, key])}: {format_path([*path, key])}: "
                                f"unknown key '{key}'{hint}")
        else:
            problems.append(f"{where}:{line_of(root, path)}: {format_path(path)}: {error.message}")
    return problems


def _known_keys(error: jsonschema.ValidationError) -> list[str]:
    return sorted((error.schema or {}).get("properties", {})) if isinstance(error.schema, dict) else []


def _unknown_keys(error: jsonschema.ValidationError) -> list[tuple[str, str | None]]:
    """For an `additionalProperties: false` error: each key not allowed there, and the nearest
    allowed one (difflib) when there is one near enough."""
    if error.validator != "additionalProperties" or not isinstance(error.instance, dict):
        return []
    known = _known_keys(error)
    return [(str(key), next(iter(difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)), None))
            for key in error.instance if key not in known]


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(where, ["no such file"]) from None
    except UnicodeDecodeError as exc:
        raise SpecError(where, [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise SpecError(where, [exc.strerror or str(exc)]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"{mark.line + 1}" if mark else "?"
        raise SpecError(where, [f"{where}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise SpecError(where, [f"{where}:1: a spec is a mapping with `version` and `parts`"])
    problems = _schema_problems(data, root, where)
    if problems:
        raise SpecError(where, problems)
    spec, problems = _build(data, root, where)
    if problems:
        raise SpecError(where, problems)
    return spec


def _build(data: dict, root: yaml.Node, where: str) -> tuple[Spec, list[str]]:
    types = registry()
    problems: list[str] = []

    def problem(path: list, message: str) -> None:
        problems.append(f"{where}:{line_of(root, path)}: {format_path(path)}: {message}")

    roles = {
        name: RoleSpec(name=name, names=tuple(r.get("names", ())), image=tuple(r.get("image", ())),
                       command=tuple(r.get("command", ())), not_command=tuple(r.get("not_command", ())),
                       port=r.get("port"), probe=r.get("probe", "tcp"), service=r.get("service"),
                       optional=bool(r.get("optional", False)))
        for name, r in (data.get("roles") or {}).items()
    }
    inputs = dict(data.get("inputs") or {})
    copies = {name: CopySpec(name=name, start=tuple(c["start"])) for name, c in (data.get("copies") or {}).items()}
    for name, copy in copies.items():
        for ri, role in enumerate(copy.start):
            if role not in roles:
                problem(["copies", name, "start", ri], f"role '{role}' is not defined in `roles`")
    known_ids = {f"{p['id']}.{c['id']}" for p in data["parts"] for c in p["checks"]}
    saved_names = set()
    for part in data["parts"]:
        for check in part["checks"]:
            for body in [check, *check.get("setup", [])]:
                for type_name in types:
                    saved_names |= set((body.get(type_name) or {}).get("save", {}) or {})
    variables = set(inputs) | saved_names

    parts: list[PartSpec] = []
    seen_parts: set[str] = set()
    for pi, part in enumerate(data["parts"]):
        ppath = ["parts", pi]
        if part["id"] in seen_parts:
            problem([*ppath, "id"], f"part id '{part['id']}' is used twice")
        seen_parts.add(part["id"])
        checks: list[CheckSpec] = []
        seen_checks: set[str] = set()
        for ci, check in enumerate(part["checks"]):
            cpath = [*ppath, "checks", ci]
            if check["id"] in seen_checks:
                problem([*cpath, "id"], f"check id '{check['id']}' is used twice in part '{part['id']}'")
            seen_checks.add(check["id"])
            type_names = [t for t in types if t in check]
            if len(type_names) != 1:
                problem(cpath, f"a check has exactly one type, one of: {', '.join(sorted(types))}; "
                               f"found {', '.join(type_names) or 'none'}")
                continue
            type_name = type_names[0]
            needs, after = [], []
            for key, found in (("needs", needs), ("after", after)):
                for ni, need in enumerate(check.get(key, [])):
                    qualified = need if "." in need else f"{part['id']}.{need}"
                    if qualified not in known_ids:
                        verb = "depend on" if key == "needs" else "wait for"
                        problem([*cpath, key, ni], f"no check '{need}' to {verb}")
                    found.append(qualified)
            setup = tuple(Step(type=next(iter(s)), body=next(iter(s.values()))) for s in check.get("setup", []))
            for name in sorted(placeholders([check[type_name], *(s.body for s in setup)]) - variables):
                problem([*cpath, type_name], f"'{{{name}}}' is neither an input nor saved by a check")
            for name in sorted(unknown_filters([check[type_name], *(s.body for s in setup)])):
                problem([*cpath, type_name], f"no filter '|{name}'; the filters are: {', '.join(FILTERS)}")
            bodies = [([*cpath, type_name], type_name, check[type_name]),
                      *(([*cpath, "setup", si, s.type], s.type, s.body) for si, s in enumerate(setup))]
            for body_path, kind, body in bodies:  # what each type's schema cannot say alone
                for message in (types[kind].validate(body) if types[kind].validate else []):
                    problem(body_path, message)
            for role in sorted(roles_named([check[type_name], *(s.body for s in setup)]) - set(roles)):
                problem([*cpath, type_name], f"role '{role}' is not defined in `roles`")
            if check.get("copy") is not None and check["copy"] not in copies:
                problem([*cpath, "copy"], f"no copy '{check['copy']}' in `copies`"
                                          f" (defined: {', '.join(sorted(copies)) or 'none'})")
            fallback_for = check.get("fallback_for")
            if fallback_for is not None and "." not in fallback_for:
                fallback_for = f"{part['id']}.{fallback_for}"
            hint, contract = check.get("hint", {}), check.get("contract", {})
            if check.get("advice") and float(check["points"]) != 0:
                problem([*cpath, "advice"], "advice is never scored: give it `points: 0`")
            checks.append(CheckSpec(
                part=part["id"], id=check["id"], title=_text(check.get("title"), check["id"]),
                titles=_texts(check.get("title")),
                points=float(check["points"]), type=type_name, body=check[type_name], needs=tuple(needs),
                after=tuple(after),
                stage=int(check.get("stage", 0)), visibility=check.get("visibility", "visible"),
                hint={"": hint} if isinstance(hint, str) else dict(hint), setup=setup,
                bonus=bool(part.get("bonus", False)), timeout_s=check.get("timeout_s"),
                requires=frozenset(check.get("requires", ())), copy=check.get("copy"),
                line=line_of(root, cpath), contract={"": contract} if isinstance(contract, str) else dict(contract),
                advice=bool(check.get("advice", False)), fallback_for=fallback_for,
                hints_when={cause: _texts(text) for cause, text in (check.get("hint_when") or {}).items()}))
        total = sum(c.points for c in checks if not c.fallback_for)  # a fallback's points are its primary's
        if "points" in part and abs(float(part["points"]) - total) > 1e-9:
            problem([*ppath, "points"], f"part '{part['id']}' says {part['points']} points but its checks "
                                        f"add up to {total:g}")
        parts.append(PartSpec(id=part["id"], title=_text(part.get("title"), part["id"]),
                              titles=_texts(part.get("title")),
                              points=float(part.get("points", total)), bonus=bool(part.get("bonus", False)),
                              checks=tuple(checks)))
    _check_needs_graph(parts, problem)
    _check_fallbacks(parts, problem)
    spec = Spec(version=data["version"], title=_text(data.get("title"), ""), titles=_texts(data.get("title")),
                path=where, inputs=inputs, roles=roles,
                timeouts=Timeouts(**(data.get("timeouts") or {})), parts=tuple(parts),
                copies=copies, limits=GradingLimits(**(data.get("limits") or {})),
                allowed_images=tuple((data.get("policy") or {}).get("images", ())),
                allowed_registries=tuple((data.get("policy") or {}).get("registries", ())),
                generated_stack=bool(data.get("generated_stack", True)))
    return spec, problems


def _texts(value: Any) -> dict[str, str]:
    """A text the spec gives in one language (str) or several ({ru: …, en: …})."""
    if value is None:
        return {}
    return {"": value} if isinstance(value, str) else dict(value)


def _text(value: Any, default: str) -> str:
    texts = _texts(value)
    return texts.get("en") or texts.get("") or next(iter(texts.values()), default)


def _check_needs_graph(parts: list[PartSpec], problem) -> None:
    checks = {c.qualified_id: (pi, ci, c) for pi, p in enumerate(parts) for ci, c in enumerate(p.checks)}
    for pi, ci, check in checks.values():
        for need in (*check.needs, *check.after):
            if need in checks and checks[need][2].stage > check.stage:
                problem(["parts", pi, "checks", ci, "needs"],
                        f"'{need}' runs in a later stage ({checks[need][2].stage}) than this check ({check.stage})")
    graph = {qid: [n for n in (*check.needs, *check.after) if n in checks] for qid, (_, _, check) in checks.items()}
    while True:
        try:
            TopologicalSorter(graph).prepare()
            return
        except CycleError as exc:
            cycle = exc.args[1]  # each id runs before the next: [a, b, ..., a]
            pi, ci, _ = checks[cycle[-1]]
            problem(["parts", pi, "checks", ci, "needs"], "needs form a cycle: " + " -> ".join(reversed(cycle)))
            graph[cycle[1]].remove(cycle[0])  # report each cycle once


def _check_fallbacks(parts: list[PartSpec], problem) -> None:
    """A fallback stands in for one check of its part that `requires` something; a grading has
    the one or the other, so both sides are worth the same and nothing else may depend on either."""
    checks = {c.qualified_id: (pi, ci, c) for pi, p in enumerate(parts) for ci, c in enumerate(p.checks)}
    groups: dict[str, list[str]] = {}
    for qid, (pi, ci, check) in checks.items():
        if not check.fallback_for:
            continue
        path = ["parts", pi, "checks", ci, "fallback_for"]
        primary = checks.get(check.fallback_for, (0, 0, None))[2]
        if primary is None or primary.part != check.part:
            problem(path, f"no check '{check.fallback_for}' in part '{check.part}' to stand in for")
        elif primary.fallback_for:
            problem(path, f"'{primary.qualified_id}' is itself a fallback: fallbacks do not chain")
        elif not primary.requires:
            problem(path, f"'{primary.qualified_id}' requires nothing, so it is always graded and a "
                          "fallback for it never would be")
        elif check.requires & primary.requires:
            problem(path, f"it requires {', '.join(sorted(check.requires & primary.requires))} too, so it "
                          f"could never be graded in place of '{primary.qualified_id}'")
        else:
            groups.setdefault(primary.qualified_id, []).append(qid)
    for primary_id, fallback_ids in groups.items():
        pi, ci, primary = checks[primary_id]
        worth = sum(checks[f][2].points for f in fallback_ids)
        if abs(worth - primary.points) > 1e-9:
            problem(["parts", pi, "checks", ci, "points"],
                    f"'{primary_id}' is worth {primary.points:g} points but its fallbacks "
                    f"({', '.join(fallback_ids)}) add up to {worth:g}: a grading must be worth the same either way")
    for pi, ci, check in checks.values():
        group = groups.get(check.fallback_for or "", [])
        for need in check.needs:
            other = checks.get(need, (0, 0, None))[2]
            if other is None or need in group:
                continue
            if other.fallback_for or need in groups:
                problem(["parts", pi, "checks", ci, "needs"],
                        f"'{need}' is graded in some gradings only (it has a fallback, or is one): "
                        "a check cannot need it; use `after` to order them")
