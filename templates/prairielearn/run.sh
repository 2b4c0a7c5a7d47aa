#!/usr/bin/env bash
# PrairieLearn external grading entrypoint for lab 4: grades /grade/student and writes
# /grade/results/results.json (PrairieLearn does not create /grade/results itself).
#
# PrairieLearn runs the job in a container with no Docker engine, so the grader runs the
# student's services with its local backend (--backend local). The grader is baked into
# the image (templates/prairielearn/Dockerfile) at $GRADER_DIR.
set -uo pipefail

GRADER_DIR="${GRADER_DIR:-/opt/lab4-grader}"
GRADER_SPEC="${GRADER_SPEC:-$GRADER_DIR/specs/lab4.yaml}"
# GRADE_ROOT and GRADER_PYTHON exist only so the entrypoint can be tried outside PrairieLearn.
GRADE_ROOT="${GRADE_ROOT:-/grade}"
PYTHON="${GRADER_PYTHON:-python3}"
RESULTS="$GRADE_ROOT/results"
SUBMISSION="$GRADE_ROOT/student"
mkdir -p "$RESULTS"

# pl-file-upload takes flat files; a project with folders comes as one zip: unpack it.
shopt -s nullglob
zips=("$SUBMISSION"/*.zip)
if [ "${#zips[@]}" -eq 1 ]; then
  UNPACKED="$(mktemp -d)"
  python3 - "${zips[0]}" "$UNPACKED" <<'PY'
import sys, zipfile
from pathlib import Path

archive, target = sys.argv[1], Path(sys.argv[2]).resolve()
with zipfile.ZipFile(archive) as z:
    for member in z.infolist():
        path = (target / member.filename).resolve()
        if target not in path.parents and path != target:
            sys.exit(f"{member.filename}: outside the submission folder")
    z.extractall(target)
PY
  SUBMISSION="$UNPACKED"
fi
# A zip of the project folder holds one sub-folder: grade that folder.
found=("$SUBMISSION"/Dockerfile "$SUBMISSION"/compose.y*ml "$SUBMISSION"/docker-compose.y*ml)
subdirs=("$SUBMISSION"/*/)
if [ "${#found[@]}" -eq 0 ] && [ "${#subdirs[@]}" -eq 1 ]; then
  SUBMISSION="${subdirs[0]%/}"
fi

"$PYTHON" "$GRADER_DIR/runner.py" "$SUBMISSION" \
  --spec "$GRADER_SPEC" \
  --backend local \
  --audience student \
  --no-color \
  --format prairielearn --out "$RESULTS/results.json" \
  --format text --out -
status=$?

if [ ! -s "$RESULTS/results.json" ]; then
  # A grader fault is not the student's: mark the submission not gradable, which costs the
  # student no attempt, and say why.
  python3 - "$status" "$RESULTS/results.json" <<'PY'
import json, sys

status, path = sys.argv[1], sys.argv[2]
json.dump({"gradable": False,
           "format_errors": [f"The grader could not run (exit status {status}). "
                             "This is not a problem with your submission; please tell your instructor."]},
          open(path, "w", encoding="utf-8"))
PY
fi
exit 0
