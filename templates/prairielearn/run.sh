#!/usr/bin/env bash
# PrairieLearn external grading entrypoint for lab 4: grades what the student uploaded to
# /grade/student and writes /grade/results/results.json (PrairieLearn does not create
# /grade/results itself).
#
# The job runs in a container with no Docker engine and, by default, no network: the grader
# runs the student's services with its local backend and installs their requirements from the
# image's wheelhouse (LAB4_GRADER_WHEELHOUSE, LAB4_GRADER_OFFLINE in the Dockerfile). runner.py
# finds the project in the upload itself (submission.zip, with or without a top folder;
# graders/uploads.py).
set -uo pipefail

GRADER_DIR="${GRADER_DIR:-/opt/lab4-grader}"
GRADER_SPEC="${GRADER_SPEC:-$GRADER_DIR/specs/lab4.yaml}"
# GRADE_ROOT and GRADER_PYTHON exist only so the entrypoint can be tried outside PrairieLearn.
GRADE_ROOT="${GRADE_ROOT:-/grade}"
PYTHON="${GRADER_PYTHON:-python3}"
RESULTS="$GRADE_ROOT/results"
mkdir -p "$RESULTS"

"$PYTHON" "$GRADER_DIR/runner.py" grade "$GRADE_ROOT/student" \
  --spec "$GRADER_SPEC" \
  --backend local \
  --audience student \
  --lang ru \
  --no-color \
  --format prairielearn --out "$RESULTS/results.json" \
  --format text --out -
status=$?

if [ ! -s "$RESULTS/results.json" ]; then
  # A grader fault is not the student's: mark the submission not gradable, which costs the
  # student no attempt, and say why.
  "$PYTHON" - "$status" "$RESULTS/results.json" <<'PY'
import json, sys

status, path = sys.argv[1], sys.argv[2]
json.dump({"gradable": False,
           "format_errors": [f"The grader could not run (exit status {status}). "
                             "This is not a problem with your submission; please tell your instructor."]},
          open(path, "w", encoding="utf-8"))
PY
fi
exit 0
