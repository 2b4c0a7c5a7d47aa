"""Run one spec against one submission on one backend.

Order of work: inspect the submission -> discover roles -> build -> start -> run the
checks stage by stage (checks of a stage run concurrently, each after its `needs` and
`after`) ->
capture logs -> tear down, always. Nothing here prints: progress goes to `on_event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders import __version__, policy
from graders.backends.base import Backend, Limits, StackError, StackInfo
from graders.backends.discovery import discover_roles
from graders.backends.stack_files import COMPOSE_FILES, find_compose_file
from graders.check_runner import OUTCOME_WORDS, GradeOptions, run_check
from graders.checks import CheckContext, registry
from graders.checks.browser import browser_missing
from graders.checks.context import SharedResources
from graders.dockerfile import hadolint, image_commands, parse_dockerfile
from graders.i18n import _, use_language
from graders.results import (
    PROBLEM_CAP,
    CheckResult,
    GradingReport,
    PartResult,
    Status,
    bounded,
)
from graders.spec.model import CheckSpec, Spec
from graders.template import draw_inputs

EventFn = Callable[[str, Any], None]


@dataclass
class _Stack:
    """What the checks may learn of the stack's bring-up: the main one, or a copy of it."""

    backend: Backend | None = None
    info: StackInfo | None = None
    started: bool = False
    problem: StackError | None = None
    roles: dict[str, str] = field(default_factory=dict)
    name: str = ""  # the copy's name; "" for the main stack
    ready: Future | None = None  # a copy's start, running beside the main stack's


def grade(submission: Path, spec: Spec, backend: Backend, options: GradeOptions | None = None,
          on_event: EventFn | None = None) -> GradingReport:
    options = options or GradeOptions()
    with use_language(options.lang):  # every message of this grading: checks, problems, notes
        return _grade(submission, spec, backend, options, on_event)


def _grade(submission: Path, spec: Spec, backend: Backend, options: GradeOptions,
           on_event: EventFn | None) -> GradingReport:
    emit = on_event or (lambda kind, payload: None)
    started = time.monotonic()
    report = GradingReport(submission=str(submission), spec=spec.path, grader_version=__version__,
                           backend=backend.name, run_id=getattr(backend, "run_id", ""))
    stack = _Stack(backend=backend)
    copies: dict[str, _Stack] = {}
    to_run = spec.to_run(options.parts)  # the chosen parts, and what their checks need from others
    wanted = sorted({c.copy for c in to_run if c.copy and options.copies})
    pool = ThreadPoolExecutor(max_workers=max(len(wanted), 1), thread_name_prefix="copy")
    try:
        if options.unreadable:  # a broken zip: every check says so, and the report is still complete
            stack.problem = StackError("unpack", options.unreadable)
            report.problems.append(f"unpack: {options.unreadable}")
        else:
            _bring_up(submission, spec, backend, report, stack, emit, copies=copies, wanted=wanted, pool=pool)
        t0 = time.monotonic()
        variables = draw_inputs(spec.inputs, options.seed)
        deadline = started + spec.timeouts.total_s  # the whole grading, bring-up included
        selected = [c for c in spec.checks() if not options.parts or c.part in options.parts]
        capabilities = grading_capabilities(to_run, backend, options, report.notes)
        report.parts = _run_until_signal(_run_checks(submission, spec, to_run, stack, copies, variables, options,
                                                       emit, report.problems, report.notes, deadline, capabilities))
        left_out = [c for c in selected if c.requires - capabilities and not spec.fallbacks(c.qualified_id)]
        _fallback_notes(spec, selected, capabilities, report.notes)
        if left_out:
            report.partial = True
            report.notes.append(_("partial score: {count} check(s) worth {points} points need {needs} and were "
                                  "left out of the maximum on the '{backend}' backend", count=len(left_out),
                                  points=f"{sum(c.points for c in left_out):g}", backend=backend.name,
                                  needs=", ".join(sorted(set().union(*(c.requires for c in left_out))))))
        report.timings.checks_s = time.monotonic() - t0
        report.problems.extend(_("the grader's '{copy}' copy of the stack: {step}: {message}", copy=c.name,
                                 step=c.problem.step, message=c.problem.message)
                               for c in copies.values() if c.problem and stack.started)
        for each in (stack, *copies.values()):
            if each.started:
                _capture_logs(each, report)
    finally:
        for copy in copies.values():
            copy.backend.abandon()  # a copy still starting gives up, and goes down with the main stack
        pool.shutdown(wait=True)
        t0 = time.monotonic()
        if options.keep_up and stack.started:
            report.notes.append("--keep-up: the stack is still running; remove it with `runner.py clean`")
        else:
            emit("teardown", None)
            try:
                backend.teardown()
            except Exception as exc:  # noqa: BLE001 - teardown trouble must not hide the grades
                report.problems.append(f"teardown: {exc}")
        report.timings.teardown_s = time.monotonic() - t0
        report.timings.total_s = time.monotonic() - started
        redact = getattr(backend, "redact", lambda text: text)
        report.problems = [bounded(redact(p), PROBLEM_CAP) for p in report.problems]
        report.notes = [bounded(redact(n), PROBLEM_CAP) for n in report.notes]
    return report


def grading_capabilities(selected: list[CheckSpec], backend: Backend, options: GradeOptions,
                         notes: list[str]) -> frozenset[str]:
    """What this grading can do: the backend's own capabilities, and `browser` where a headless
    Chromium is installed and the backend can put it into the stack's network. Asked only when a
    selected check requires it; why there is none goes to the notes."""
    found = set(getattr(backend, "capabilities", frozenset()))
    if any("browser" in c.requires for c in selected):
        why = ("--no-browser" if not options.browser else browser_missing()
               or ("" if getattr(backend, "can_enter_networks", lambda: False)() else
                   f"the '{backend.name}' backend cannot put a browser into the stack's network"))
        if why:
            notes.append(_("no browser here: {why}", why=why))
        else:
            found.add("browser")
    return frozenset(found)


def _fallback_notes(spec: Spec, selected: list[CheckSpec], capabilities: frozenset[str], notes: list[str]) -> None:
    for check in selected:
        fallbacks = [f for f in spec.fallbacks(check.qualified_id) if f in selected]
        if fallbacks and (missing := check.requires - capabilities):
            notes.append(_("'{check}' ({points} points) needs {needs}, which is missing here: graded instead by "
                           "{fallbacks}", check=check.qualified_id, points=f"{check.points:g}",
                           needs=", ".join(sorted(missing)), fallbacks=", ".join(f.id for f in fallbacks)))


def _bring_up(submission: Path, spec: Spec, backend: Backend, report: GradingReport, stack: _Stack,
              emit: EventFn, copies: dict[str, _Stack], wanted: list[str], pool: ThreadPoolExecutor) -> None:
    try:
        emit("step", "inspect")
        compose_file = find_compose_file(submission)
        _policy_gate(policy.check_files(submission, compose_file))
        if compose_file is None and not spec.generated_stack:
            raise StackError("find", _("no compose file: this assignment grades the stack your compose file "
                                       "describes; write compose.yaml beside the Dockerfile"),
                             f"Compose reads one of: {', '.join(COMPOSE_FILES)}.")
        stack.info = backend.inspect()
        if stack.info.model is not None:
            root = stack.info.root or submission
            limits = getattr(backend, "limits", None) or Limits()
            violations = policy.check_model(stack.info.model, root, max_services=limits.max_services)
            images = policy.images_used(stack.info.model, root)
            violations += policy.judge_registries(images, spec.allowed_registries)
            if hasattr(backend, "image_origin"):  # what the engine holds that no build may read
                violations += policy.judge_images(images, backend.image_origin, spec.allowed_images)
            _policy_gate(violations)
        report.notes.extend(stack.info.notes)
        _copy_notes(backend, report)
        image_cmd = ""
        if stack.info.dockerfile:
            with contextlib.suppress(OSError, ValueError):
                image_cmd = parse_dockerfile(submission / stack.info.dockerfile).final_stage().command_text()
            report.lint = [f"Dockerfile {finding}" for finding in hadolint(submission / stack.info.dockerfile)]
        stack.roles, missing = discover_roles(spec.roles, stack.info.services,
                                              image_commands(stack.info.services, image_cmd))
        report.notes.append("roles: " + (", ".join(f"{r}={s}" for r, s in stack.roles.items()) or "none found"))
        if missing:
            report.problems.append(_("no service found for the role(s): {roles} (services: {services})",
                                     roles=", ".join(missing), services=", ".join(stack.info.services) or "—"))
        probe = {stack.roles[r]: [role.port] for r, role in spec.roles.items() if role.port and r in stack.roles}
        ready = {stack.roles[r]: (role.port, role.probe == "http")
                 for r, role in spec.roles.items() if role.port and r in stack.roles}
        emit("step", "build")
        t0 = time.monotonic()
        try:
            backend.prepare(probe)
        finally:
            report.timings.build_s = time.monotonic() - t0
        if hasattr(backend, "make_copy"):  # copies start alongside the main stack (backends without: the main)
            for name in wanted:
                copies[name] = _start_copy(backend, spec, name, stack.roles, stack.info, probe, ready, pool)
        emit("step", "start")
        t0 = time.monotonic()
        try:
            report.problems.extend(backend.start(ready, spec.timeouts.start_s))
            # The checks begin once the copies are up too: no latency is timed while one still starts.
            # (A copy's own start is bounded by the same start timeout, and never raises.)
            wait_for_futures([c.ready for c in copies.values() if c.ready])
        finally:
            report.timings.up_s = time.monotonic() - t0
        _copy_notes(backend, report)
        stack.started = True
    except StackError as exc:
        stack.problem = exc
        report.problems.append(f"{exc.step}: {exc.message}" + (f"\n{exc.details}" if exc.details else ""))


def _run_until_signal(coro):
    """asyncio.run, where Ctrl-C and SIGTERM cancel the checks cleanly (every task ends, nothing
    is left pending) and then surface as KeyboardInterrupt, so teardown runs as for any interrupt.
    In a thread (validate -j) signals stay the main thread's business."""
    async def main():
        loop, task = asyncio.get_running_loop(), asyncio.current_task()
        installed = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                installed[signum] = signal.getsignal(signum)
                loop.add_signal_handler(signum, task.cancel)
        try:
            return await coro
        finally:
            for signum, previous in installed.items():
                loop.remove_signal_handler(signum)
                signal.signal(signum, previous)  # the CLI's own handlers come back for teardown

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None


def grading_limits(spec: Spec, runtime: str | None = None) -> Limits:
    """The grader's limits with the spec's caps on the grading as a whole."""
    wanted = {"total_memory": spec.limits.memory, "total_cpus": spec.limits.cpus, "total_pids": spec.limits.pids,
              "max_services": spec.limits.services, "runtime": runtime}
    return Limits(**{key: value for key, value in wanted.items() if value is not None})


def _policy_gate(violations: list[str]) -> None:
    """The policy (docs/policy.md) refuses before anything is built; a YAML syntax error is no
    danger, just the compose file's first problem."""
    if violations and all("not valid YAML" in v for v in violations):
        raise StackError("compose-config", violations[0],
                         _("YAML indents with spaces, never tabs; check brackets, quotes and colons."))
    if violations:
        raise StackError("policy", policy.refusal_message(violations), _(policy.REFUSAL_DETAILS))


def _start_copy(backend: Backend, spec: Spec, name: str, roles: dict[str, str], info: StackInfo | None,
                probe: dict[str, list[int]], ready: dict[str, tuple[int, bool]], pool: ThreadPoolExecutor) -> _Stack:
    copy = _Stack(info=info, roles=roles, name=name)
    missing = [r for r in spec.copies[name].start if r not in roles]
    services = [roles[r] for r in spec.copies[name].start if r in roles]
    twin = backend.make_copy(name, services)
    copy.backend = twin

    def start() -> None:
        try:
            if missing:
                raise StackError("start", _("no service plays the role(s) {roles}", roles=", ".join(missing)))
            twin.prepare(probe)
            twin.start({s: r for s, r in ready.items() if s in services}, spec.timeouts.start_s)
            copy.started = True
        except StackError as exc:
            copy.problem = exc
        except Exception as exc:  # noqa: BLE001 - a grader fault in a copy fails that copy's checks only
            copy.problem = StackError("start", f"grader error: {type(exc).__name__}: {exc}")

    copy.ready = pool.submit(contextvars.copy_context().run, start)  # the grading's language goes along
    return copy


def _copy_notes(backend: Backend, report: GradingReport) -> None:
    report.notes.extend(n for n in getattr(backend, "notes", []) if n not in report.notes)


def _capture_logs(stack: _Stack, report: GradingReport) -> None:
    for service, states in stack.backend.service_states().items():
        if stack.name and not states:
            continue  # a service the copy never started
        key = f"{service} ({stack.name} copy)" if stack.name else service
        try:
            report.service_logs[key] = stack.backend.logs(service, tail=100)
        except Exception as exc:  # noqa: BLE001 - a log we cannot read is reported, not fatal
            report.service_logs[key] = f"(logs unavailable: {exc})"


async def _run_checks(submission: Path, spec: Spec, selected: list[CheckSpec], main: _Stack, copies: dict[str, _Stack],
                      variables: dict[str, Any], options: GradeOptions, emit: EventFn, problems: list[str],
                      notes: list[str], deadline: float, capabilities: frozenset[str]) -> list[PartResult]:
    types = registry()
    shared = SharedResources()  # one browser for the whole grading, closed below
    results: dict[str, CheckResult] = {}
    role_ports = {name: role.port for name, role in spec.roles.items() if role.port}

    def stack_of(check: CheckSpec) -> _Stack:
        # A copy is for overlap, not a second chance: when the main stack is down, all is.
        return copies.get(check.copy or "", main) if main.started else main

    def context(check: CheckSpec, stack: _Stack) -> CheckContext:
        return CheckContext(backend=stack.backend, submission=submission, roles=stack.roles, role_ports=role_ports,
                            variables=variables, timeout_s=check.timeout_s or options.check_timeout_s
                            or spec.timeouts.check_s, limits=options.limits, stack_info=stack.info,
                            stack_started=stack.started, shared=shared,
                            stack_problem=f"{stack.problem.step}: {stack.problem.message}" if stack.problem else "")

    async def run_one(check: CheckSpec, done: dict[str, asyncio.Event]) -> None:
        # `after` orders the use of a shared stack: between two stacks there is nothing to order.
        same_stack = [a for a in check.after if stack_of(spec.check(a)) is stack_of(check)]
        stack = stack_of(check)
        warm_up = types[check.type].warm_up
        if warm_up and stack.started and not check.requires - capabilities:
            warming.append(asyncio.create_task(_quietly(warm_up(context(check, stack), check.body))))
        for prior in (*check.needs, *same_stack):
            if prior in done:
                await done[prior].wait()
        result = await run_check(check, types[check.type], results, stack, spec, options, capabilities,
                                 context(check, stack))
        results[check.qualified_id] = result
        emit("check", result)
        done[check.qualified_id].set()

    warming: list[asyncio.Task] = []
    try:
        await _run_stages(selected, run_one, main, copies, problems, deadline)
    finally:
        for task in warming:
            task.cancel()
        await asyncio.gather(*warming, return_exceptions=True)
        await shared.aclose()

    for check in selected:  # what the total time limit cut short
        if check.qualified_id not in results:
            results[check.qualified_id] = CheckResult(
                id=check.id, title=check.title_in(options.lang), status=Status.FAILED, score=0.0,
                max_score=check.points,
                message=_("not finished: the grading's total time limit ran out"),
                hint=check.hint_in(options.lang), visibility=check.visibility, check_type=check.type,
                contract=check.contract_in(options.lang), advice=check.advice)
    parts = []
    for part in spec.parts:
        if options.parts and part.id not in options.parts:
            for check in part.checks:  # a prerequisite of a chosen check: ran, and said so, but not scored here
                if (prior := results.get(check.qualified_id)) is not None:
                    notes.append(_("'{check}' ran as a prerequisite of the chosen parts: {outcome}",
                                      check=check.qualified_id, outcome=_(OUTCOME_WORDS[prior.status])))
            continue
        parts.append(PartResult(id=part.id, title=part.title_in(options.lang), bonus=part.bonus,
                                checks=[results[c.qualified_id] for c in part.checks]))
    return parts


async def _run_stages(selected: list[CheckSpec], run_one, main: _Stack, copies: dict[str, _Stack],
                      problems: list[str], deadline: float) -> None:
    for stage in sorted({c.stage for c in selected}):
        in_stage = [c for c in selected if c.stage == stage]
        done = {c.qualified_id: asyncio.Event() for c in in_stage}
        tasks = [asyncio.create_task(run_one(c, done)) for c in in_stage]
        try:
            _unused, pending = await asyncio.wait(tasks, timeout=max(deadline - time.monotonic(), 0.01))
        finally:  # out of time, or interrupted: every task ends here, none is left pending
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if pending:
            problems.append(_("total time: the grading ran out of its total time limit; unfinished checks failed"))
        for stack in (main, *copies.values()):
            if stack.started and getattr(stack.backend, "dirty", False):
                try:
                    await asyncio.to_thread(stack.backend.restore)
                except StackError as exc:
                    stack.problem, stack.started = exc, False
                    where = _(" (the '{copy}' copy of the stack)", copy=stack.name) if stack.name else ""
                    problems.append(f"{exc.step}: {exc.message}{where}")


async def _quietly(warm_up) -> None:
    """A warm-up that fails says nothing: the check itself meets the same trouble and reports it."""
    with contextlib.suppress(Exception):
        await warm_up
