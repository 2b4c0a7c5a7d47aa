"""`junit`: JUnit XML for CI dashboards (GitLab, Jenkins, GitHub test-report actions).

`<testsuites>` > one `<testsuite>` per part > one `<testcase classname="PART" name="CHECK"
time="S">` per check, with `<failure message=…>` (failed), `<error message=…>` (error) or
`<skipped message=…>` (skipped), and `<system-out>` carrying the check's title, points and
hint. Element and attribute names are those of the Jenkins/xunit `junit-10.xsd` that pytest
validates its own `--junitxml` against. Grading problems (a failed build) go to the
`<system-err>` of a suite named `grading` that holds no test cases, so the counts stay the
checks' counts; each part suite carries its points as `<properties>`. (That xsd names the
error element `errors`; every JUnit reader, pytest's own writer included, uses `<error>`,
and so does this.)

Built with xml.etree, so it is well-formed whatever the messages hold; control characters
(which XML 1.0 forbids) and ANSI colour codes are stripped first.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from graders.reports import ReportOptions, for_audience, report_format
from graders.reports.markdown import DETAILS_LIMIT, MESSAGE_LIMIT, clean_text, points, truncate
from graders.results import GradingReport, Status

ATTRIBUTE_LIMIT = 1_000  # characters of a message attribute; the full text is in the element


def _counts(statuses: list[Status]) -> dict[str, str]:
    return {"tests": str(len(statuses)),
            "failures": str(sum(s is Status.FAILED for s in statuses)),
            "errors": str(sum(s is Status.ERROR for s in statuses)),
            "skipped": str(sum(s is Status.SKIPPED for s in statuses))}


@report_format("junit")
def render(report: GradingReport, options: ReportOptions) -> str:
    shown = for_audience(report, options)
    whole = {p.id: p for p in report.parts}
    root = ET.Element("testsuites", name=clean_text(report.spec) or "grading")
    every: list[Status] = []
    total_time = 0.0

    if report.problems:
        suite = ET.SubElement(root, "testsuite", name="grading", **_counts([]), time="0.000")
        ET.SubElement(suite, "system-err").text = "\n\n".join(
            truncate(clean_text(p), 20_000, where="start") for p in report.problems)

    for part in shown.parts:
        statuses = [c.graded_status for c in part.checks]
        every += statuses
        part_time = sum(c.duration_s for c in part.checks)
        total_time += part_time
        suite = ET.SubElement(root, "testsuite", name=part.id, **_counts(statuses), time=f"{part_time:.3f}")
        props = ET.SubElement(suite, "properties")
        full = whole[part.id]
        for name, value in (("title", clean_text(part.title)), ("score", points(full.score)),
                            ("max_score", points(full.max_score)), ("bonus", str(part.bonus).lower())):
            ET.SubElement(props, "property", name=name, value=value)
        for check in part.checks:
            case = ET.SubElement(suite, "testcase", classname=part.id, name=check.id, time=f"{check.duration_s:.3f}")
            message = clean_text(check.message)
            body = truncate(message, MESSAGE_LIMIT)
            if check.details and options.audience != "student":
                body += "\n\n" + truncate(clean_text(check.details), DETAILS_LIMIT, where="start")
            if check.graded_status is Status.FAILED:
                ET.SubElement(case, "failure", message=truncate(message, ATTRIBUTE_LIMIT), type="failed").text = body
            elif check.graded_status is Status.ERROR:
                ET.SubElement(case, "error", message=truncate(message, ATTRIBUTE_LIMIT), type="error").text = body
            elif check.graded_status is Status.SKIPPED:
                ET.SubElement(case, "skipped", message=truncate(message, ATTRIBUTE_LIMIT))
            out = [clean_text(check.title), f"points: {points(check.score)} / {points(check.max_score)}"]
            if check.advice_unmet:
                out.append(f"advice (not scored): {message}")
            if check.hint and check.status is not Status.PASSED:
                out.append(f"hint: {clean_text(check.hint)}")
            ET.SubElement(case, "system-out").text = "\n".join(out)

    counts = _counts(every)
    del counts["skipped"]  # not an attribute of <testsuites> in junit-10.xsd; each suite has it
    root.attrib.update(counts)
    root.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
