"""Report formats: one module each, registered by name. A reporter sees only results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from graders.plugins import PluginRegistry
from graders.results import GradingReport

Render = Callable[[GradingReport, "ReportOptions"], str]


@dataclass(frozen=True)
class ReportOptions:
    audience: str = "instructor"  # "student": hidden and after_due_date checks are left out
    color: bool = False
    width: int = 110


_FORMATS: PluginRegistry[Render] = PluginRegistry(__name__, __path__)


def report_format(name: str) -> Callable[[Render], Render]:
    def register(fn: Render) -> Render:
        _FORMATS.add(name, fn, what="report format")
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
    return shown
