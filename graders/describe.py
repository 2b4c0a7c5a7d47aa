"""`runner.py describe [--spec S] [--lang ru]`: the assignment as a checklist a student can work
from before their first grading: parts, checks, points, what each expects and the line of the
assignment it enforces. Hidden checks are counted, not shown."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graders.i18n import LANGUAGES, _, n_, use_language
from graders.spec.loader import load_spec
from graders.spec.model import Spec

DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "specs" / "lab4.yaml"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spec", default=str(DEFAULT_SPEC), help="spec file (default: specs/lab4.yaml)")
    p.add_argument("--lang", choices=LANGUAGES, default="ru", help="language (default: ru)")
    p.add_argument("--out", help="write to this file instead of stdout")


def points_text(value: float) -> str:
    return n_("{count} point", "{count} points", int(value)) if float(value).is_integer() else \
        _("{value} points", value=f"{value:g}")


def describe(spec: Spec, lang: str) -> str:
    """The checklist as Markdown (it reads as plain text in a terminal too)."""
    with use_language(lang):
        base = sum(p.points for p in spec.parts if not p.bonus)
        bonus = sum(p.points for p in spec.parts if p.bonus)
        title = spec.title_in(lang) or spec.path
        out = [f"# {title}", "", _("Maximum: {points}", points=points_text(base))
               + (_(" (+{points} bonus)", points=points_text(bonus)) if bonus else ""), ""]
        hidden = 0
        for part in spec.parts:
            heading = part.title_in(lang) + (_(" (bonus)") if part.bonus else "")
            out += [f"## {heading} — {points_text(part.points)}", ""]
            for check in part.checks:
                if check.visibility != "visible":
                    hidden += 1
                    continue
                worth = _("advice, not scored") if check.advice else points_text(check.points)
                out.append(f"- [ ] **{check.title_in(lang)}** ({worth}) `{check.qualified_id}`")
                if contract := check.contract_in(lang):
                    out.append("  - " + _("Required") + f": {contract}")
                if hint := check.hint_in(lang):
                    out.append("  - " + _("How") + f": {hint}")
            out.append("")
        if hidden:
            out += [n_("{count} more check is hidden until grading; its points count.",
                       "{count} more checks are hidden until grading; their points count.", hidden), ""]
        return "\n".join(out)


def run_describe(args: argparse.Namespace) -> int:
    text = describe(load_spec(args.spec), args.lang)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
