"""Build the Gradescope autograder zip: `python -m graders.gradescope_bundle --spec SPEC --out autograder.zip`.

The zip holds, at its root (Gradescope looks there), `setup.sh` and `run_autograder` from
templates/gradescope/ (both executable), and under `grader/` the grader's source package
(pyproject.toml, README.md, runner.py, graders/) with the spec as `grader/specs/<name>` and the
wheelhouse lists as `grader/specs/wheelhouse/*.txt` (the reference's pins as `reference.txt`);
`run_autograder` is written to grade with that spec. Gradescope unpacks the zip into
/autograder/source, and setup.sh installs `grader/` into a virtualenv.

Run it from a checkout of the grader (it reads templates/ and the sources beside this
package). Entries carry a fixed timestamp, so the same sources give the same zip.

Exit codes: 0 the zip was written; 2 misuse (no such spec, a spec error, no templates).
"""

from __future__ import annotations

import argparse
import stat
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates" / "gradescope"
SPEC_PLACEHOLDER = "@SPEC@"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
SOURCE_FILES = ("pyproject.toml", "README.md", "runner.py")
EXECUTABLE = 0o755
REGULAR = 0o644


def maxima(spec_path: Path | str, capabilities: frozenset[str] = frozenset()) -> tuple[float, float]:
    """(the spec's non-bonus maximum, the part of it a backend with `capabilities` can grade).

    Checks that `require` a capability the backend lacks (the local backend has none; Docker
    has "docker") are left out of the maximum, and a fallback counts only where its primary
    cannot run, so Gradescope's assignment points should be the second number.
    """
    from graders.spec.loader import load_spec

    spec = load_spec(str(spec_path))
    checks = [c for c in spec.checks() if not c.bonus]
    everything = spec.all_capabilities()
    return (round(sum(c.points for c in checks if spec.counts_with(c, everything)), 2),
            round(sum(c.points for c in checks if spec.counts_with(c, capabilities)), 2))


class BundleError(Exception):
    """The bundle cannot be built (missing spec or template)."""


def _add(archive: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.external_attr = (stat.S_IFREG | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _package_files(root: Path) -> list[Path]:
    package = root / "graders"
    return sorted(p for p in package.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"))


def build_bundle(spec: Path | str, out: Path | str, root: Path = ROOT, check_spec: bool = True) -> Path:
    """Write the autograder zip for `spec` to `out`; return `out`."""
    spec, out = Path(spec), Path(out)
    if not spec.is_file():
        raise BundleError(f"{spec}: no such spec file")
    if check_spec:
        from graders.spec.loader import load_spec

        load_spec(str(spec))  # raises SpecError with file:line on a bad spec
    templates = root / "templates" / "gradescope"
    setup, run = templates / "setup.sh", templates / "run_autograder"
    for path in (setup, run):
        if not path.is_file():
            raise BundleError(f"{path}: template missing (run from a checkout of the grader)")
    spec_member = f"specs/{spec.name}"
    run_text = run.read_text(encoding="utf-8")
    if SPEC_PLACEHOLDER not in run_text:
        raise BundleError(f"{run}: no {SPEC_PLACEHOLDER} placeholder for the spec path")

    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        _add(archive, "setup.sh", setup.read_bytes(), EXECUTABLE)
        _add(archive, "run_autograder", run_text.replace(SPEC_PLACEHOLDER, spec_member).encode("utf-8"), EXECUTABLE)
        for name in SOURCE_FILES:
            path = root / name
            if path.is_file():
                _add(archive, f"grader/{name}", path.read_bytes(), EXECUTABLE if name == "runner.py" else REGULAR)
        for path in _package_files(root):
            _add(archive, f"grader/{path.relative_to(root).as_posix()}", path.read_bytes(), REGULAR)
        _add(archive, f"grader/{spec_member}", spec.read_bytes(), REGULAR)
        # The wheelhouse setup.sh builds: the lab's packages, and the reference's pinned versions.
        for path in sorted((root / "specs" / "wheelhouse").glob("*.txt")):
            _add(archive, f"grader/specs/wheelhouse/{path.name}", path.read_bytes(), REGULAR)
        pins = root / "reference" / "requirements.txt"
        if pins.is_file():
            _add(archive, "grader/specs/wheelhouse/reference.txt", pins.read_bytes(), REGULAR)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graders.gradescope_bundle",
                                     description="Build the Gradescope autograder zip for a spec.")
    parser.add_argument("--spec", default=str(ROOT / "specs" / "lab4.yaml"), help="the spec (default: specs/lab4.yaml)")
    parser.add_argument("--out", default="autograder.zip", help="the zip to write (default: autograder.zip)")
    args = parser.parse_args(argv)
    from graders.spec.loader import SpecError

    try:
        out = build_bundle(args.spec, args.out)
    except (BundleError, SpecError) as exc:
        print(f"gradescope_bundle: {exc}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(out) as archive:
        count = len(archive.namelist())
    full, local = maxima(args.spec)
    print(f"wrote {out} ({count} files, {out.stat().st_size // 1024} KiB); upload it on the assignment's "
          "'Configure Autograder' page")
    print(f"set the assignment's points to {local:g}: the spec's maximum is {full:g}, and checks needing Docker "
          f"({full - local:g} points) cannot run on Gradescope's local backend")
    return 0


if __name__ == "__main__":
    sys.exit(main())
