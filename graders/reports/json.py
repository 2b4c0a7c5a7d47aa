"""`json`: the machine-readable report; its schema is specs/report.schema.json."""

from __future__ import annotations

import json

from graders.reports import ReportOptions, attachment_link, for_audience, report_format
from graders.results import GradingReport


def report_dict(report: GradingReport, options: ReportOptions) -> dict:
    data = report.to_dict()
    for part, part_result in zip(data["parts"], report.parts, strict=True):
        for item, result in zip(part["checks"], part_result.checks, strict=True):
            for shown, attachment in zip(item["attachments"], result.attachments, strict=True):
                shown["path"] = attachment_link(attachment, options)
    if options.audience == "student":
        hidden = [(p, c) for p, c in report.all_checks() if c.visibility != "visible"]
        visible_ids = {(p.id, c.id) for p, c in for_audience(report, options).all_checks()}
        for part in data["parts"]:
            part["checks"] = [c for c in part["checks"] if (part["id"], c["id"]) in visible_ids]
        data["notes"] = []  # how the grader ran (backends, caches, hosts): the instructor's business
        if hidden:
            data["notes"].append(f"{len(hidden)} hidden check(s) count toward the score but are not shown")
    else:
        data["service_logs"] = report.service_logs
        for part, check in zip(data["parts"], report.parts, strict=True):
            for item, result in zip(part["checks"], check.checks, strict=True):
                item["details"] = result.details
    return data


@report_format("json")
def render(report: GradingReport, options: ReportOptions) -> str:
    return json.dumps(report_dict(report, options), ensure_ascii=False, indent=2) + "\n"
