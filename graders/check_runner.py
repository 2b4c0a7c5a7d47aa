"""One check to its result: the preconditions (policy, capabilities, needs, a running stack), its
setup steps, its time limit, and a result a student can read: the message redacted of the
grader's own ports and names, the hint that fits the kind of failure."""

from __future__ import annotations

import asyncio
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from graders.backends.base import Backend, Limits, StackError
from graders.checks import CheckContext, CheckFailed, StackUnavailable, registry
from graders.checks._causes import METHOD, REFUSED, ROUTE_MISSING, SERVER_ERROR, TIMEOUT
from graders.i18n import N_, _
from graders.results import DETAILS_CAP, MESSAGE_CAP, CheckResult, Outcome, Status, bounded
from graders.spec.model import CheckSpec, Spec, in_language, roles_named


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
    unreadable: str = ""  # why the upload could not be unpacked (then an empty folder is graded, saying so)


async def run_check(check: CheckSpec, check_type, results: dict[str, CheckResult], stack: Any, spec: Spec,
                    options: GradeOptions, capabilities: frozenset[str], ctx: CheckContext) -> CheckResult:
    backend: Backend = stack.backend
    redact = getattr(backend, "redact", lambda text: text)
    stands_in = ""  # said before the message of a fallback graded in its primary's place

    def result(status: Status, message: str, details: str = "", duration: float = 0.0,
               counted: bool = True, cause: str = "", outcome: Outcome | None = None) -> CheckResult:
        return CheckResult(id=check.id, title=check.title_in(options.lang), status=status,
                           score=check.points if status is Status.PASSED else 0.0,
                           max_score=check.points if counted else 0.0,
                           message=bounded(redact(stands_in + message), MESSAGE_CAP),
                           hint=hint_for(check, cause, options.lang), details=bounded(redact(details), DETAILS_CAP),
                           duration_s=duration, visibility=check.visibility, check_type=check.type,
                           contract=check.contract_in(options.lang), advice=check.advice, graded=counted,
                           attachments=list(outcome.attachments) if outcome else [],
                           file=outcome.file if outcome else "", line=outcome.line if outcome else 0)

    missing = check.requires - capabilities
    if missing:
        instead = [f.id for f in spec.fallbacks(check.qualified_id)]
        why = _("graded instead by {checks}", checks=", ".join(instead)) if instead else \
            _("left out of the maximum")
        return result(Status.SKIPPED, _("not graded here: it needs {needs}, which this grading on the '{backend}' "
                                        "backend does not have ({why})", needs=", ".join(sorted(missing)),
                                        backend=backend.name, why=why), counted=False)
    if check.fallback_for:
        primary = spec.check(check.fallback_for)
        if not primary.requires - capabilities:
            return result(Status.SKIPPED, _("not graded: '{primary}' grades this here, with {needs}",
                                            primary=primary.id, needs=", ".join(sorted(primary.requires))),
                          counted=False)
        stands_in = _("[in place of '{primary}': no {needs} here] ", primary=primary.id,
                      needs=", ".join(sorted(primary.requires - capabilities)))

    if stack.problem and stack.problem.step in ("policy", "unpack") and check.type != "stack":
        # Not even the static checks: they would read the very files the policy refused (or that
        # could not be unpacked). After the capability rules: a check left out stays out of the maximum.
        stands_in = ""
        if stack.problem.step == "unpack":
            return result(Status.SKIPPED, _("not run: the upload could not be unpacked (see the problems)"))
        return result(Status.SKIPPED, _("not run: the submission was refused before running (see the problems)"))
    for need in check.needs:
        prior = results.get(need)
        if prior is None:
            return result(Status.SKIPPED, _("not run: it needs '{need}', which was not run", need=need))
        if prior.status is not Status.PASSED:
            return result(Status.SKIPPED, _("not run: it needs '{need}', which {outcome}", need=need,
                                            outcome=_(OUTCOME_WORDS[prior.status])))
    unrunnable = getattr(backend, "skipped", {})
    named = roles_named([check.body, *(step.body for step in check.setup)])
    if blocked := sorted(r for r in named if stack.roles.get(r) in unrunnable):
        return result(Status.SKIPPED, _("not graded here: the '{role}' service ({why}) does not run on the "
                                        "'{backend}' backend", role=blocked[0],
                                        why=unrunnable[stack.roles[blocked[0]]], backend=backend.name),
                      counted=False)
    step_types = [registry()[s.type] for s in check.setup]
    if any(t.needs_stack for t in [check_type, *step_types]) and not stack.started:
        why = _("{step} failed: {message}", step=stack.problem.step, message=stack.problem.message) \
            if stack.problem else _("the stack is not running")
        if stack.name:
            why = _("the grader's '{copy}' copy of the stack: {why}", copy=stack.name, why=why)
        return result(Status.SKIPPED, _("not run: {why}", why=why))

    started = time.monotonic()
    try:
        outcome = await asyncio.wait_for(_setup_then_run(ctx, check, check_type), timeout=ctx.timeout_s)
        status = Status.PASSED if outcome.passed else Status.FAILED
        return result(status, outcome.message, outcome.details, time.monotonic() - started, cause=outcome.cause,
                      outcome=outcome)
    except CheckFailed as exc:
        return result(Status.FAILED, exc.message, exc.details, time.monotonic() - started, cause=exc.cause)
    except StackUnavailable as exc:
        return result(Status.FAILED, str(exc), "", time.monotonic() - started)
    except (asyncio.TimeoutError, TimeoutError):
        return result(Status.FAILED, _("'{title}' got no verdict within {seconds} s: the submission did not "
                                       "answer in time", title=check.title_in(options.lang),
                                       seconds=f"{ctx.timeout_s:g}"), "", time.monotonic() - started,
                      cause=TIMEOUT)
    except StackError as exc:
        return result(Status.ERROR, f"{exc.step}: {exc.message}", exc.details, time.monotonic() - started)
    except Exception as exc:  # noqa: BLE001 - a grader fault becomes this check's error, not a crash
        return result(Status.ERROR, _("grader error in check '{check}': {error}", check=check.qualified_id,
                                      error=f"{type(exc).__name__}: {exc}"),
                      traceback.format_exc(limit=8), time.monotonic() - started)


# The hint a kind of failure gets when the spec names none for it: the check's own hint is about
# the feature, and would mislead when the route is missing or the server crashed.
CAUSE_HINTS = {
    ROUTE_MISSING: N_("Compare the path and method of this route in your app with the assignment: the message "
                      "names the route your app has instead."),
    METHOD: N_("Declare the route with the HTTP method the assignment names (@app.get, @app.post, …)."),
    SERVER_ERROR: N_("Your app failed on this request: the last lines of the traceback above name the file and "
                     "line; send the same request yourself and read `docker compose logs`."),
    REFUSED: N_("Nothing accepts connections there: the server must listen on 0.0.0.0 (uvicorn --host 0.0.0.0) "
                "and its service must be running; see `docker compose logs`."),
}
OUTCOME_WORDS = {Status.FAILED: N_("failed"), Status.ERROR: N_("could not be checked"),
                 Status.SKIPPED: N_("was skipped"), Status.PASSED: N_("passed")}


def hint_for(check: CheckSpec, cause: str, lang: str) -> str:
    """The spec's hint for this kind of failure, else the grader's own for it, else the check's."""
    if cause and cause in check.hints_when:
        return in_language(check.hints_when[cause], lang)
    if cause in CAUSE_HINTS:
        return _(CAUSE_HINTS[cause])
    return check.hint_in(lang)


async def _setup_then_run(ctx: CheckContext, check: CheckSpec, check_type) -> Outcome:
    types = registry()
    for index, step in enumerate(check.setup, start=1):
        outcome = await types[step.type].run(ctx, step.body)
        if not outcome.passed:
            raise CheckFailed(f"setup step {index} ({step.type}): {outcome.message}", outcome.details)
    return await check_type.run(ctx, check.body)
