"""Report formats: one module each, registered by name. A reporter sees only results."""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable
from dataclasses import dataclass

from graders.results import GradingReport

Render = Callable[[GradingReport, "ReportOptions"], str]


@dataclass(frozen=True)
class ReportOptions:
    audience: str = "instructor"  # "student": hidden and after_due_date checks are left out
    color: bool = False
    width: int = 110


_FORMATS: dict[str, Render] = {}
_SCANNED = False
_SCAN_LOCK = threading.Lock()  # gradings in threads (validate -j) may ask at once


def report_format(name: str) -> Callable[[Render], Render]:
    def register(fn: Render) -> Render:
        _FORMATS[name] = fn
        return fn

    return register


def formats() -> dict[str, Render]:
    global _SCANNED
    with _SCAN_LOCK:
        if not _SCANNED:  # a flag, not emptiness: one format imported first must not stop the scan
            for module in pkgutil.iter_modules(__path__):
                if not module.name.startswith("_"):
                    importlib.import_module(f"{__name__}.{module.name}")
            _SCANNED = True
    return _FORMATS


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
