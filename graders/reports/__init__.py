"""Report formats: one module each, registered by name. A reporter sees only results."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from graders.i18n import use_language
from graders.plugins import PluginRegistry
from graders.results import GradingReport

Render = Callable[[GradingReport, "ReportOptions"], str]


@dataclass(frozen=True)
class ReportOptions:
    audience: str = "instructor"  # "student": hidden and after_due_date checks, notes and logs are left out
    color: bool = False
    width: int = 110
    lang: str = "en"  # the language of the report's own words (the grading's messages come translated)


_FORMATS: PluginRegistry[Render] = PluginRegistry(__name__, __path__)


def report_format(name: str) -> Callable[[Render], Render]:
    """Registers a format; it renders in the options' language."""
    def register(fn: Render) -> Render:
        @functools.wraps(fn)
        def in_language(report: GradingReport, options: ReportOptions) -> str:
            with use_language(options.lang):
                return fn(report, options)

        _FORMATS.add(name, in_language, what="report format")
        return fn

    return register


def formats() -> dict[str, Render]:
    """All report formats, importing every module of this package once."""
    return _FORMATS.all()


def for_audience(report: GradingReport, options: ReportOptions) -> GradingReport:
    """A copy whose parts list only what this audience may see (scores stay whole)."""
    if options.audience != "student":
        return report
    import copy

    shown = copy.copy(report)
    shown.parts = []
    for part in report.parts:
        part_copy = copy.copy(part)
        part_copy.checks = [c for c in part.checks if c.visibility == "visible"]
        shown.parts.append(part_copy)
    shown.service_logs = {}
    shown.notes = []  # how the grader ran (roles, backends, caches): the instructor's business
    return shown
