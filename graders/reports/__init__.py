"""Report formats: one module each, registered by name. A reporter sees only results."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from graders.i18n import use_language
from graders.plugins import PluginRegistry
from graders.results import Attachment, GradingReport

Render = Callable[[GradingReport, "ReportOptions"], str]


@dataclass(frozen=True)
class ReportOptions:
    audience: str = "instructor"  # "student": hidden and after_due_date checks, notes and logs are left out
    color: bool = False
    width: int = 110
    lang: str = "en"  # the language of the report's own words (the grading's messages come translated)
    # The folder the report is written to: links to attachments are relative to it (None: stdout,
    # and the links are the attachments' absolute paths).
    link_base: str | None = None


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


def save_attachments(report: GradingReport, folder: Path) -> int:
    """Write every check's attachments into `folder` as `<part>.<check>-<name>.<ext>` and record
    their paths; returns how many were written. Their bytes are then dropped from memory."""
    count = 0
    for part, check in report.all_checks():
        for attachment in check.attachments:
            if not attachment.data:
                continue
            folder.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", attachment.name).strip("-") or "file"
            target = folder / f"{part.id}.{check.id}-{slug}{attachment.extension}"
            target.write_bytes(attachment.data)
            attachment.path, attachment.data = str(target.resolve()), b""
            count += 1
    return count


def attachment_link(attachment: Attachment, options: ReportOptions) -> str:
    """Where a report written for `options` finds the attachment ("" when it was never saved)."""
    if not attachment.path:
        return ""
    if options.link_base is None:
        return attachment.path
    return Path(os.path.relpath(attachment.path, options.link_base)).as_posix()
