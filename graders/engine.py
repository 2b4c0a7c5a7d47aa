"""Run one spec against one submission on one backend.

Order of work: inspect the submission -> discover roles -> build -> start -> run the
checks stage by stage (checks of a stage run concurrently, each after its `needs` and
`after`) ->
capture logs -> tear down, always. Nothing here prints: progress goes to `on_event`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders import __version__, policy
from graders.backends.base import Backend, Limits, StackError, StackInfo
from graders.backends.discovery import discover_roles
from graders.backends.stack_files import find_compose_file
from graders.checks import CheckContext, CheckFailed, StackUnavailable, registry
from graders.checks.browser import browser_missing
from graders.checks.context import SharedResources
from graders.dockerfile import hadolint, parse_dockerfile
from graders.results import CheckResult, GradingReport, Outcome, PartResult, Status
from graders.spec.model import CheckSpec, Spec, roles_named
from graders.template import draw_inputs

EventFn = Callable[[str, Any], None]


@dataclass
class GradeOptions:
    parts: tuple[str, ...] = ()  # empty: all parts
    lang: str = "ru"
    seed: int | None = None
    keep_up: bool = False
    limits: Limits = field(default_factory=Limits)
    check_timeout_s: float | None = None  # overrides the spec's
    copies: bool = True  # False: every check on the main stack, whatever the spec's `copies`
    browser: bool = True  # False: no browser, even where one could run (checks that need it fall back)


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
    emit = on_event or (lambda kind, payload: None)
    started = time.monotonic()
    report = GradingReport(submission=str(submission), spec=spec.path, grader_version=__version__,
                           backend=backend.name, run_id=getattr(backend, "run_id", ""))
    stack = _Stack(backend=backend)
    copies: dict[str, _Stack] = {}
    wanted = sorted({c.copy for c in spec.checks() if c.copy and options.copies
                     and (not options.parts or c.part in options.parts)})
    pool = ThreadPoolExecutor(max_workers=max(len(wanted), 1), thread_name_prefix="copy")
    try:
        _bring_up(submission, spec, backend, report, stack, emit, copies=copies, wanted=wanted, pool=pool)
        t0 = time.monotonic()
        variables = draw_inputs(spec.inputs, options.seed)
        deadline = started + spec.timeouts.total_s  # the whole grading, bring-up included
        selected = [c for c in spec.checks() if not options.parts or c.part in options.parts]
        capabilities = grading_capabilities(selected, backend, options, report.notes)
        report.parts = asyncio.run(_run_checks(submission, spec, stack, copies, variables, options, emit,
                                                 report.problems, deadline, capabilities))
        left_out = [c for c in selected if c.requires - capabilities and not spec.fallbacks(c.qualified_id)]
        _fallback_notes(spec, selected, capabilities, report.notes)
        if left_out:
            report.partial = True
            report.notes.append(f"partial score: {len(left_out)} check(s) worth {sum(c.points for c in left_out):g} "
                                f"points need {', '.join(sorted(set().union(*(c.requires for c in left_out))))} "
                                f"and were left out of the maximum on the '{backend.name}' backend")
        report.timings.checks_s = time.monotonic() - t0
        report.problems.extend(f"the grader's '{c.name}' copy of the stack: {c.problem.step}: {c.problem.message}"
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
            notes.append(f"no browser here: {why}")
        else:
            found.add("browser")
    return frozenset(found)


def _fallback_notes(spec: Spec, selected: list[CheckSpec], capabilities: frozenset[str], notes: list[str]) -> None:
    for check in selected:
        fallbacks = [f for f in spec.fallbacks(check.qualified_id) if f in selected]
        if fallbacks and (missing := check.requires - capabilities):
            notes.append(f"'{check.qualified_id}' ({check.points:g} points) needs {', '.join(sorted(missing))}, "
                         f"which is missing here: graded instead by {', '.join(f.id for f in fallbacks)}")


def _bring_up(submission: Path, spec: Spec, backend: Backend, report: GradingReport, stack: _Stack,
              emit: EventFn, copies: dict[str, _Stack], wanted: list[str], pool: ThreadPoolExecutor) -> None:
    try:
        emit("step", "inspect")
        _policy_gate(policy.check_files(submission, find_compose_file(submission)))
        stack.info = backend.inspect()
        if stack.info.model is not None:
            _policy_gate(policy.check_model(stack.info.model, stack.info.root or submission))
        report.notes.extend(stack.info.notes)
        _copy_notes(backend, report)
        image_cmd = ""
        if stack.info.dockerfile:
            with contextlib.suppress(OSError, ValueError):
                image_cmd = parse_dockerfile(submission / stack.info.dockerfile).final_stage().command_text()
            report.lint = [f"Dockerfile {finding}" for finding in hadolint(submission / stack.info.dockerfile)]
        stack.roles, missing = discover_roles(spec.roles, stack.info.services, image_cmd)
        report.notes.append("roles: " + (", ".join(f"{r}={s}" for r, s in stack.roles.items()) or "none found"))
        if missing:
            report.problems.append(f"no service found for the role(s): {', '.join(missing)} "
                                   f"(services: {', '.join(stack.info.services) or 'none'})")
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


def _policy_gate(violations: list[str]) -> None:
    """The policy (docs/policy.md) refuses before anything is built; a YAML syntax error is no
    danger, just the compose file's first problem."""
    if violations and all("not valid YAML" in v for v in violations):
        raise StackError("compose-config", violations[0],
                         "YAML indents with spaces, never tabs; check brackets, quotes and colons.")
    if violations:
        raise StackError("policy", policy.refusal_message(violations), policy.REFUSAL_DETAILS)


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
                raise StackError("start", f"no service plays the role(s) {', '.join(missing)}")
            twin.prepare(probe)
            twin.start({s: r for s, r in ready.items() if s in services}, spec.timeouts.start_s)
            copy.started = True
        except StackError as exc:
            copy.problem = exc
        except Exception as exc:  # noqa: BLE001 - a grader fault in a copy fails that copy's checks only
            copy.problem = StackError("start", f"grader error: {type(exc).__name__}: {exc}")

    copy.ready = pool.submit(start)
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


async def _run_checks(submission: Path, spec: Spec, main: _Stack, copies: dict[str, _Stack],
                      variables: dict[str, Any], options: GradeOptions, emit: EventFn, problems: list[str],
                      deadline: float, capabilities: frozenset[str]) -> list[PartResult]:
    types = registry()
    shared = SharedResources()  # one browser for the whole grading, closed below
    selected = [c for c in spec.checks() if not options.parts or c.part in options.parts]
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
        result = await _run_check(check, types[check.type], results, stack, spec, options, capabilities,
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
                id=check.id, title=check.title, status=Status.FAILED, score=0.0, max_score=check.points,
                message="not finished: the grading's total time limit ran out",
                hint=check.hint_in(options.lang), visibility=check.visibility, check_type=check.type)
    parts = []
    for part in spec.parts:
        if options.parts and part.id not in options.parts:
            continue
        parts.append(PartResult(id=part.id, title=part.title, bonus=part.bonus,
                                checks=[results[c.qualified_id] for c in part.checks]))
    return parts


async def _run_stages(selected: list[CheckSpec], run_one, main: _Stack, copies: dict[str, _Stack],
                      problems: list[str], deadline: float) -> None:
    for stage in sorted({c.stage for c in selected}):
        in_stage = [c for c in selected if c.stage == stage]
        done = {c.qualified_id: asyncio.Event() for c in in_stage}
        try:
            await asyncio.wait_for(asyncio.gather(*(run_one(c, done) for c in in_stage)),
                                   timeout=max(deadline - time.monotonic(), 0.01))
        except (asyncio.TimeoutError, TimeoutError):
            problems.append("total time: the grading ran out of its total time limit; unfinished checks failed")
        for stack in (main, *copies.values()):
            if stack.started and getattr(stack.backend, "dirty", False):
                try:
                    await asyncio.to_thread(stack.backend.restore)
                except StackError as exc:
                    stack.problem, stack.started = exc, False
                    where = f" (the '{stack.name}' copy of the stack)" if stack.name else ""
                    problems.append(f"{exc.step}: {exc.message}{where}")


async def _quietly(warm_up) -> None:
    """A warm-up that fails says nothing: the check itself meets the same trouble and reports it."""
    with contextlib.suppress(Exception):
        await warm_up


async def _run_check(check: CheckSpec, check_type, results: dict[str, CheckResult], stack: _Stack, spec: Spec,
                     options: GradeOptions, capabilities: frozenset[str], ctx: CheckContext) -> CheckResult:
    hint = check.hint_in(options.lang)
    backend = stack.backend
    stands_in = ""  # said before the message of a fallback graded in its primary's place

    def result(status: Status, message: str, details: str = "", duration: float = 0.0,
               counted: bool = True, outcome: Outcome | None = None) -> CheckResult:
        return CheckResult(id=check.id, title=check.title, status=status,
                           score=check.points if status is Status.PASSED else 0.0,
                           max_score=check.points if counted else 0.0,
                           message=stands_in + message, hint=hint, details=details, duration_s=duration,
                           visibility=check.visibility, check_type=check.type, graded=counted,
                           attachments=list(outcome.attachments) if outcome else [])

    if stack.problem and stack.problem.step == "policy" and check.type != "stack":
        # Not even the static checks: they would read the very files the policy refused.
        return result(Status.SKIPPED, "not run: the submission was refused before running (see the problems)")
    missing = check.requires - capabilities
    if missing:
        instead = [f.id for f in spec.fallbacks(check.qualified_id)]
        return result(Status.SKIPPED, f"not graded here: it needs {', '.join(sorted(missing))}, which this "
                                      f"grading on the '{backend.name}' backend does not have "
                                      + (f"(graded instead by {', '.join(instead)})" if instead
                                         else "(left out of the maximum)"), counted=False)
    if check.fallback_for:
        primary = spec.check(check.fallback_for)
        if not primary.requires - capabilities:
            return result(Status.SKIPPED, f"not graded: '{primary.id}' grades this here, with "
                                          f"{', '.join(sorted(primary.requires))}", counted=False)
        stands_in = (f"[in place of '{primary.id}': no {', '.join(sorted(primary.requires - capabilities))} "
                     "here] ")

    for need in check.needs:
        prior = results.get(need)
        if prior is None:
            return result(Status.SKIPPED, f"not run: it needs '{need}', which was not run")
        if prior.status is not Status.PASSED:
            return result(Status.SKIPPED, f"not run: it needs '{need}', which {prior.status.value}")
    unrunnable = getattr(backend, "skipped", {})
    named = roles_named([check.body, *(step.body for step in check.setup)])
    if blocked := sorted(r for r in named if stack.roles.get(r) in unrunnable):
        return result(Status.SKIPPED, f"not graded here: the '{blocked[0]}' service "
                                      f"({unrunnable[stack.roles[blocked[0]]]}) does not run on the "
                                      f"'{backend.name}' backend", counted=False)
    step_types = [registry()[s.type] for s in check.setup]
    if any(t.needs_stack for t in [check_type, *step_types]) and not stack.started:
        why = f"{stack.problem.step} failed: {stack.problem.message}" if stack.problem else "the stack is not running"
        if stack.name:
            why = f"the grader's '{stack.name}' copy of the stack: {why}"
        return result(Status.SKIPPED, f"not run: {why}")

    started = time.monotonic()
    try:
        outcome = await asyncio.wait_for(_setup_then_run(ctx, check, check_type), timeout=ctx.timeout_s)
        status = Status.PASSED if outcome.passed else Status.FAILED
        return result(status, outcome.message, outcome.details, time.monotonic() - started, outcome=outcome)
    except CheckFailed as exc:
        return result(Status.FAILED, exc.message, exc.details, time.monotonic() - started)
    except StackUnavailable as exc:
        return result(Status.FAILED, str(exc), "", time.monotonic() - started)
    except (asyncio.TimeoutError, TimeoutError):
        return result(Status.FAILED, f"'{check.title}' got no verdict within {ctx.timeout_s:g} s: the "
                                     f"submission did not answer in time", "", time.monotonic() - started)
    except StackError as exc:
        return result(Status.ERROR, f"{exc.step}: {exc.message}", exc.details, time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - a grader fault becomes this check's error, not a crash
        return result(Status.ERROR, f"grader error in check '{check.qualified_id}': {type(exc).__name__}: {exc}",
                      traceback.format_exc(limit=8), time.monotonic() - started)


async def _setup_then_run(ctx: CheckContext, check: CheckSpec, check_type) -> Outcome:
    types = registry()
    for index, step in enumerate(check.setup, start=1):
        outcome = await types[step.type].run(ctx, step.body)
        if not outcome.passed:
            raise CheckFailed(f"setup step {index} ({step.type}): {outcome.message}", outcome.details)
    return await check_type.run(ctx, check.body)
