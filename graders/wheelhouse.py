"""Build the wheelhouse a platform image carries: `python -m graders.wheelhouse DIR [REQUIREMENTS ...]`.

The local backend installs a submission's requirements into a virtual environment; where the
grading has no network (PrairieLearn) it installs them from this folder only
(LAB4_GRADER_WHEELHOUSE, LAB4_GRADER_OFFLINE: graders/backends/local/env.py). Run it with the
Python that will grade, so the wheels fit that interpreter. Default requirement files:
specs/wheelhouse/*.txt (the lab's packages, and the reference's pins where the image copies
them there). Each file is resolved on its own, so a pinned and an unpinned list may name the
same package in different versions.

Exit codes: 0 built; 2 misuse (no such requirements file); 3 pip failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "specs" / "wheelhouse"


def build(folder: Path, requirement_files: list[Path]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for requirements in requirement_files:
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
                               "--wheel-dir", str(folder), "-r", str(requirements)])
        if done.returncode != 0:
            print(f"graders.wheelhouse: pip wheel -r {requirements} failed ({done.returncode})", file=sys.stderr)
            return 3
    print(f"wheelhouse {folder}: {len(list(folder.glob('*.whl')))} wheels")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graders.wheelhouse", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="where the wheels go")
    parser.add_argument("requirements", nargs="*", help="requirement files (default: specs/wheelhouse/*.txt)")
    args = parser.parse_args(argv)
    files = [Path(f) for f in args.requirements] or sorted(DEFAULT_DIR.glob("*.txt"))
    if missing := [str(f) for f in files if not f.is_file()]:
        print(f"graders.wheelhouse: no such requirements file: {', '.join(missing)}", file=sys.stderr)
        return 2
    return build(Path(args.folder), files)


if __name__ == "__main__":
    sys.exit(main())
