"""`runner.py validate SPEC --reference DIR [--mutants DIR] [--variants DIR] [-j N] [--json FILE]`: prove the
checks bite, and that correct work in other styles keeps full marks.

The reference must score full marks, bonus included. A mutant (tests/mutants/<name>/) is the
reference with one student mistake: overlay files plus `mutant.yaml` (`description`, `kills:
[part.check, ...]`, optional `delete: [paths]`). Each mutant must lose exactly its `kills`, and
each check must be lost by some mutant. A mistake no check can catch is recorded as `kills: []`
with `known_gap: "why"`: it is graded and listed, and never fails validate. A variant
(tests/variants/<name>/: `variant.yaml` with a `description`, and a `variant.patch` and/or files;
`base: none` for a submission of its own files) is correct work written differently: it must lose
no check. Copies live in one temporary folder, removed at the end.
Gradings run in parallel (`-j`), each in its own compose project (DockerBackend's run id names
the project, images, network; host ports are ephemeral). Builds share BuildKit's cache: the
reference installs requirements.txt before `COPY . .`, so code-only mutants reuse that layer.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

import yaml
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from graders.engine import GradeOptions, grade, grading_limits
from graders.results import Status
from graders.spec.model import Spec

MUTANT_FILE = "mutant.yaml"
PATCH_FILE = "mutant.patch"  # a unified diff against the reference (`patch -p1`): fails loudly when it drifts
VARIANT_FILE = "variant.yaml"
VARIANT_PATCH = "variant.patch"
MUTANTS = Path(__file__).resolve().parent.parent / "tests" / "mutants"
VARIANTS = Path(__file__).resolve().parent.parent / "tests" / "variants"
SKIP_COPY = shutil.ignore_patterns("__pycache__", "*.pyc", "log.txt")


class MutantError(Exception):
    """A mutant folder or its mutant.yaml is malformed."""


@dataclass(frozen=True)
class Mutant:
    """The reference with one mistake (kills: the checks it must lose), or, with `variant`, a
    correct submission in another style (it must lose nothing)."""

    name: str
    path: Path
    description: str
    kills: tuple[str, ...]
    delete: tuple[str, ...] = ()
    variant: bool = False
    from_reference: bool = True  # False: the folder's files are the whole submission
    known_gap: str = ""  # why no check can catch it; then `kills` is empty

    def overlay(self) -> list[str]:
        """Files (relative, POSIX) that replace or add files of the reference."""
        meta = (MUTANT_FILE, PATCH_FILE, VARIANT_FILE, VARIANT_PATCH)
        return sorted(p.relative_to(self.path).as_posix() for p in self.path.rglob("*")
                      if p.is_file() and p.name not in meta and "__pycache__" not in p.parts)

    @property
    def patch(self) -> Path | None:
        name = VARIANT_PATCH if self.variant else PATCH_FILE
        return self.path / name if (self.path / name).is_file() else None


@dataclass(frozen=True)
class Run:
    """One grading, reduced to what the verdict needs: each check's status by qualified id."""

    name: str
    statuses: Mapping[str, str]
    seconds: float = 0.0
    build_s: float = 0.0
    problems: tuple[str, ...] = ()
    error: str = ""  # the grading itself crashed
    messages: Mapping[str, str] = field(default_factory=dict)  # why each lost check was lost (for --json)
    # Not graded in this grading (a capability it requires is missing here, or its fallback's
    # primary ran instead): neither passed nor lost, so neither a kill nor a survival.
    left_out: tuple[str, ...] = ()

    def killed(self) -> set[str]:
        return {check for check, status in self.statuses.items() if status != Status.PASSED.value}


@dataclass
class Verdict:
    checks: list[str]
    reference_lost: list[str] = field(default_factory=list)  # checks the reference did not pass
    dead: list[str] = field(default_factory=list)  # checks no mutant made lose
    indirect: list[str] = field(default_factory=list)  # lost only as skipped (a need failed), never failed
    not_graded: list[str] = field(default_factory=list)  # left out of the reference's grading here
    collateral: dict[str, list[str]] = field(default_factory=dict)  # mutant -> lost but not in kills
    known_gaps: dict[str, list[str]] = field(default_factory=dict)  # known-gap mutant -> what it lost anyway
    survived: dict[str, list[str]] = field(default_factory=dict)  # mutant -> in kills but passed
    errors: dict[str, str] = field(default_factory=dict)  # run name -> why grading crashed
    variant_losses: dict[str, list[str]] = field(default_factory=dict)  # correct variant -> checks it lost

    @property
    def ok(self) -> bool:
        return not (self.reference_lost or self.dead or self.collateral or self.survived or self.errors
                    or self.variant_losses)


def load_mutant(folder: Path, known_checks: Iterable[str]) -> Mutant:
    """Read and check one mutant folder against the spec's qualified check ids."""
    where = f"{folder.name}/{MUTANT_FILE}"
    try:
        data = yaml.safe_load((folder / MUTANT_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MutantError(f"{where}: cannot read: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"description", "kills", "delete", "known_gap"}:
        raise MutantError(f"{where}: a mapping with description, kills and optional delete and known_gap only")
    description, kills, delete = data.get("description"), data.get("kills"), data.get("delete") or []
    gap = data.get("known_gap")
    if not isinstance(description, str) or not description.strip() or "\n" in description.strip():
        raise MutantError(f"{where}: description must be one non-empty line")
    if gap is not None and (not isinstance(gap, str) or not gap.strip()):
        raise MutantError(f"{where}: known_gap says why no check catches this mistake, in words")
    if gap is not None and kills != []:
        raise MutantError(f"{where}: a known_gap kills nothing: write `kills: []` (or drop known_gap)")
    if gap is None and (not isinstance(kills, list) or not kills or not all(isinstance(k, str) for k in kills)):
        raise MutantError(f"{where}: kills must be a non-empty list of part.check ids "
                          f"(or `kills: []` with `known_gap: \"why no check can catch it\"`)")
    if unknown := sorted(set(kills) - set(known_checks)):
        raise MutantError(f"{where}: kills names checks the spec does not have: {', '.join(unknown)}")
    if len(set(kills)) != len(kills):
        raise MutantError(f"{where}: kills lists a check twice")
    paths = [PurePosixPath(str(p)) for p in delete] if isinstance(delete, list) else None
    if paths is None or any(not p.parts or p.is_absolute() or ".." in p.parts for p in paths):
        raise MutantError(f"{where}: delete must list relative paths inside the submission, got {delete!r}")
    mutant = Mutant(folder.name, folder, description.strip(), tuple(kills), tuple(p.as_posix() for p in paths),
                    known_gap=(gap or "").strip())
    if not mutant.overlay() and not mutant.delete and mutant.patch is None:
        raise MutantError(f"{where}: the mutant changes nothing (no patch, no overlay files, no delete)")
    return mutant


def load_variant(folder: Path) -> Mutant:
    """One correct variant: `variant.yaml` (`description`, optional `base: reference|none`,
    `delete`) and a `variant.patch` and/or files."""
    where = f"{folder.name}/{VARIANT_FILE}"
    try:
        data = yaml.safe_load((folder / VARIANT_FILE).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MutantError(f"{where}: cannot read: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"description", "base", "delete"}:
        raise MutantError(f"{where}: a mapping with description and optional base and delete only")
    description, base = data.get("description"), data.get("base", "reference")
    if not isinstance(description, str) or not description.strip() or base not in ("reference", "none"):
        raise MutantError(f"{where}: description must be one line; base is reference or none")
    delete = tuple(str(p) for p in data.get("delete") or [])
    variant = Mutant(folder.name, folder, description.strip(), (), delete, variant=True,
                     from_reference=base == "reference")
    if not variant.overlay() and variant.patch is None:
        raise MutantError(f"{where}: the variant has no files and no patch")
    return variant


def load_variants(root: Path) -> list[Mutant]:
    return [load_variant(p) for p in sorted(root.iterdir()) if p.is_dir() and p.name[0] not in "._"]


def load_mutants(root: Path, known_checks: Iterable[str]) -> list[Mutant]:
    """Every folder under `root` is a mutant (names starting with `.` or `_` aside)."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and p.name[0] not in "._")
    if not folders:
        raise MutantError(f"{root}: no mutant folders")
    return [load_mutant(folder, set(known_checks)) for folder in folders]


def apply_patch(patch: Path, dest: Path) -> str:
    """`patch -p1` a unified diff onto a folder; "" when it applied, else what patch said."""
    applied = subprocess.run(["patch", "-p1", "-s", "--no-backup-if-mismatch", "-d", str(dest), "-i",
                              str(patch.resolve())], capture_output=True, text=True)
    return "" if applied.returncode == 0 else (applied.stdout + applied.stderr).strip()[:300] or "patch failed"


def materialize(reference: Path, mutant: Mutant | None, dest: Path) -> Path:
    """A copy of the reference with the mutant's overlay applied and its deletions made (a
    variant of base `none`: its own files alone)."""
    if mutant is not None and not mutant.from_reference:
        dest.mkdir(parents=True)
    else:
        shutil.copytree(reference, dest, ignore=SKIP_COPY)
    if mutant is not None and mutant.patch is not None and (failure := apply_patch(mutant.patch, dest)):
        raise MutantError(f"{mutant.name}: {PATCH_FILE} does not apply to the reference: {failure}")
    if mutant is not None:
        for rel in mutant.overlay():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(mutant.path / rel, target)
        for rel in mutant.delete:
            target = dest / rel
            if not target.exists():
                raise MutantError(f"{mutant.name}: delete names {rel}, which the reference does not have")
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    return dest


def decide(checks: list[str], reference: Run, mutants: list[Mutant], runs: Mapping[str, Run],
           variants: Iterable[Mutant] = (), advice: Iterable[str] = ()) -> Verdict:
    """Pure: from the gradings, which checks are dead, which mutants hit more or less than
    intended, which correct variants lost a scored check (advice costs nothing: a variant in
    the lecture's style may ignore it)."""
    verdict = Verdict(checks=list(checks))
    scored = [c for c in checks if c not in set(advice)]
    for variant in variants:
        run = runs.get(variant.name)
        if run is not None and not run.error and (lost := [c for c in scored if c in run.killed()]):
            verdict.variant_losses[variant.name] = lost
    for run in [reference, *runs.values()]:  # variants' runs included
        if run.error:
            verdict.errors[run.name] = run.error
    verdict.not_graded = [c for c in checks if c in reference.left_out]
    if not reference.error:
        verdict.reference_lost = [c for c in checks if c in reference.killed()
                                  or (c not in reference.statuses and c not in reference.left_out)]
    lost_somewhere: set[str] = set()
    failed_somewhere: set[str] = set()
    for mutant in mutants:
        run = runs.get(mutant.name)
        if run is None or run.error:
            continue
        killed = run.killed()
        if mutant.known_gap:  # not counted for or against the spec: listed, with anything it lost anyway
            verdict.known_gaps[mutant.name] = [c for c in checks if c in killed]
            continue
        lost_somewhere |= killed
        failed_somewhere |= {c for c in killed if run.statuses.get(c) != Status.SKIPPED.value}
        if extra := [c for c in checks if c in killed and c not in mutant.kills]:
            verdict.collateral[mutant.name] = extra
        if missed := [c for c in mutant.kills if c not in killed and c not in run.left_out]:
            verdict.survived[mutant.name] = missed
    verdict.dead = [c for c in checks if c not in lost_somewhere and c not in verdict.not_graded]
    verdict.indirect = [c for c in checks if c in lost_somewhere and c not in failed_somewhere]
    return verdict


def grade_copy(name: str, submission: Path, spec: Spec, seed: int | None, browser: bool = True) -> Run:
    """Grade one folder on Docker; a crash of the grading becomes `Run.error`, never an exception."""
    from graders.backends import open_backend

    started = time.monotonic()
    try:
        backend = open_backend("docker", submission, submission.with_name(submission.name + ".work"),
                               build_timeout_s=spec.timeouts.build_s, limits=grading_limits(spec))
        report = grade(submission, spec, backend, GradeOptions(lang="en", seed=seed, browser=browser))
    except Exception as exc:  # noqa: BLE001 - one broken grading must not stop the others
        return Run(name, {}, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}")
    everything = {f"{part.id}.{check.id}": check for part, check in report.all_checks()}
    checks = {q: c for q, c in everything.items() if c.graded}
    lost = {q: f"{c.message} ({c.duration_s:.1f} s)" for q, c in checks.items() if c.status is not Status.PASSED}
    return Run(name, {q: c.status.value for q, c in checks.items()}, time.monotonic() - started,
               report.timings.build_s, tuple(report.problems), messages=lost,
               left_out=tuple(q for q in everything if q not in checks))


MARKS = {"failed": "✘", "error": "!", "skipped": "–", "left out": "·"}


def cell(status: str, intended: bool) -> str:
    """One matrix cell; plain text tells intended from collateral even without colour (`*`)."""
    if status == "passed":
        return "[bold red]○" if intended else ""
    return f"[green]{MARKS[status]}" if intended else f"[bold red]{MARKS[status]}*"


def render(console: Console, verdict: Verdict, reference: Run, mutants: list[Mutant], runs: Mapping[str, Run],
           wall_s: float, jobs: int, variants: list[Mutant] | None = None) -> None:
    table = Table(title="Kill matrix: ✘ failed, – skipped, ! error, · not graded here; * = collateral "
                  "(not in kills), ○ = in kills but passed", title_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD, padding=(0, 0))
    table.add_column("check", no_wrap=True, min_width=max(map(len, verdict.checks), default=5))
    table.add_column("ref", justify="center", min_width=4)
    for index, _ in enumerate(mutants, start=1):
        table.add_column(str(index), justify="center", min_width=3)
    for check in verdict.checks:
        ref = reference.statuses.get(check, "left out" if check in reference.left_out else "error")
        cells = ["[green]✔" if ref == "passed" else "[dim]·" if ref == "left out" else f"[bold red]{MARKS[ref]}"]
        for mutant in mutants:
            run = runs.get(mutant.name)
            status = run.statuses.get(check, "error") if run and not run.error else ""
            cells.append("[magenta]!" if run is None or run.error else "[dim]·" if check in run.left_out else
                         f"[yellow]{MARKS[status]}" if mutant.known_gap and status != "passed" else
                         "" if mutant.known_gap else cell(status, check in mutant.kills))
        style = "bold red" if check in verdict.dead else ("yellow" if check in verdict.indirect else "")
        table.add_row(f"[{style}]{check}" if style else check, *cells)
    console.print(table)
    for index, mutant in enumerate(mutants, start=1):
        run = runs.get(mutant.name)
        timing = f"{run.seconds:.0f} s, build {run.build_s:.1f} s" if run else "not run"
        gap = " (known gap)" if mutant.known_gap else ""
        console.print(f"  {index:>2} {mutant.name} ({timing}){gap}: {escape(mutant.description)}")
    console.print(f"reference: {reference.seconds:.0f} s, build {reference.build_s:.1f} s; {len(mutants)} mutants "
                  f"with -j {jobs}; wall clock {wall_s:.0f} s (builds of code-only mutants reuse the cached "
                  f"dependency layer: see the build times)")
    if variants:
        console.print(f"Variants (correct submissions in other styles; each must lose nothing): {len(variants)}")
        for variant in variants:
            run = runs.get(variant.name)
            lost = verdict.variant_losses.get(variant.name, [])
            verdict_text = ("[magenta]error" if run is None or run.error else
                            f"[bold red]lost {', '.join(lost)}" if lost else "[green]full marks")
            timing = f"{run.seconds:.0f} s" if run else "not run"
            console.print(f"  {variant.name} ({timing}): {verdict_text}[/] — {escape(variant.description)}")
    findings = {"reference lost": verdict.reference_lost, "dead": verdict.dead,
                "collateral": [f"{m} ({', '.join(c)})" for m, c in verdict.collateral.items()],
                "survived": [f"{m} ({', '.join(c)})" for m, c in verdict.survived.items()],
                "errors": [f"{name} ({why})" for name, why in verdict.errors.items()],
                "variant losses": [f"{v} ({', '.join(c)})" for v, c in verdict.variant_losses.items()]}
    for label, items in findings.items():
        console.print(f"[bold red]{label}: " + escape("; ".join(items)) if items else f"[green]{label}: none")
    for name, lost in verdict.known_gaps.items():
        gap = next(m.known_gap for m in mutants if m.name == name)
        caught = f" (now loses {', '.join(lost)}: name them in its kills)" if lost else ""
        console.print(escape(f"known gap: {name}: {gap}{caught}"), style="yellow")
    if verdict.not_graded:
        console.print("[yellow]note: not graded here (a capability they require is missing, or a check "
                      "they stand in for ran instead): " + ", ".join(verdict.not_graded))
    if verdict.indirect:
        console.print("[yellow]note: only ever skipped (a check they need was lost), never failed: "
                      + ", ".join(verdict.indirect))
    console.print("[bold green]validate: OK" if verdict.ok else "[bold red]validate: FAILED")


def to_json(verdict: Verdict, reference: Run, mutants: list[Mutant], runs: Mapping[str, Run], wall_s: float,
            variants: list[Mutant] | None = None) -> dict:
    return {
        "ok": verdict.ok,
        "wall_s": round(wall_s, 1),
        "verdict": asdict(verdict),
        "reference": asdict(reference),
        "mutants": [{"name": m.name, "description": m.description, "kills": list(m.kills), "delete": list(m.delete),
                     "known_gap": m.known_gap,
                     "overlay": m.overlay(), "run": asdict(runs[m.name]) if m.name in runs else None}
                    for m in mutants],
        "variants": [{"name": v.name, "description": v.description, "run": asdict(runs[v.name]) if v.name in runs
                      else None} for v in variants or []],
    }


def configure_validate(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="the spec to validate, e.g. specs/lab4.yaml")
    p.add_argument("--reference", required=True, help="the reference solution folder")
    p.add_argument("--mutants", default=str(MUTANTS), help="folder of mutant folders (default: tests/mutants)")
    p.add_argument("--variants", default=None, metavar="DIR",
                   help="folder of correct variants, each of which must lose nothing (default: tests/variants "
                        "when the mutants are tests/mutants; `none` for no variants)")
    p.add_argument("-j", "--jobs", type=int, default=2, help="gradings at once (default: 2)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="grade only this mutant (repeatable)")
    p.add_argument("--seed", type=int, help="seed for the spec's random inputs (default: fresh each grading)")
    p.add_argument("--json", metavar="FILE", help="also write the matrix and verdict as JSON")
    p.add_argument("--no-browser", action="store_true",
                   help="grade without a browser: proves the fallbacks of the checks that require one")


def run_validate(args: argparse.Namespace) -> int:
    """Exit 1 when a check is dead, a mutant loses more or fewer checks than it names, or a
    correct variant loses one."""
    from graders.backends import docker_available
    from graders.spec.loader import load_spec

    spec = load_spec(args.spec)  # a SpecError exits 2 through the CLI
    reference = Path(args.reference)
    checks = [c.qualified_id for c in spec.checks()]
    try:
        if not reference.is_dir():
            raise MutantError(f"{reference}: no such folder")
        mutants = load_mutants(Path(args.mutants), checks)
        variants_dir = args.variants or (str(VARIANTS) if Path(args.mutants).resolve() == MUTANTS else "none")
        variants = load_variants(Path(variants_dir)) if variants_dir != "none" else []
        if unknown := set(args.only) - {m.name for m in [*mutants, *variants]}:
            raise MutantError(f"no mutant or variant {', '.join(sorted(unknown))}")
    except (MutantError, OSError) as exc:
        print(f"runner.py validate: {exc}", file=sys.stderr)
        return 2
    mutants = [m for m in mutants if not args.only or m.name in args.only]
    variants = [v for v in variants if not args.only or v.name in args.only]
    if not docker_available():
        print("runner.py validate: no Docker engine answers", file=sys.stderr)
        return 2
    console = Console(highlight=False, width=max(120, 40 + 4 * (len(mutants) + 1)))
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    started = time.monotonic()
    runs: dict[str, Run] = {}
    with tempfile.TemporaryDirectory(prefix="validate-") as tmp:
        err.print("» grading the reference (it also warms the build cache)")
        ref_run = grade_copy("reference", materialize(reference, None, Path(tmp) / "reference"), spec, args.seed,
                             browser=not args.no_browser)
        err.print(f"  reference: {len(ref_run.killed())} checks lost, {ref_run.seconds:.0f} s")

        def job(mutant: Mutant) -> Run:
            try:
                folder = materialize(reference, mutant, Path(tmp) / mutant.name)
            except (MutantError, OSError) as exc:
                return Run(mutant.name, {}, error=f"overlay: {exc}")
            return grade_copy(mutant.name, folder, spec, args.seed, browser=not args.no_browser)

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            futures = {pool.submit(job, m): m for m in [*mutants, *variants]}
            try:
                for future in as_completed(futures):
                    run = runs[futures[future].name] = future.result()
                    err.print(escape(f"  {run.name}: lost {', '.join(sorted(run.killed())) or 'nothing'} "
                                     f"({run.seconds:.0f} s){' ERROR ' + run.error if run.error else ''}"))
            except KeyboardInterrupt:
                err.print("interrupted: waiting for the running gradings to finish and tear down")
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    wall = time.monotonic() - started
    verdict = decide(checks, ref_run, mutants, runs, variants, [c.qualified_id for c in spec.checks() if c.advice])
    render(console, verdict, ref_run, mutants, runs, wall, args.jobs, variants)
    if args.json:
        Path(args.json).write_text(json.dumps(to_json(verdict, ref_run, mutants, runs, wall, variants), indent=2,
                                              ensure_ascii=False) + "\n", encoding="utf-8")
    return 0 if verdict.ok else 1
