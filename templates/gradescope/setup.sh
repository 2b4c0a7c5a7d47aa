#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder image
# (Ubuntu 22.04 base image: python3 is 3.10, which the grader accepts).
# The zip made by `python -m graders.gradescope_bundle` is unpacked in /autograder/source.
set -euxo pipefail

export DEBIAN_FRONTEND=noninteractive
apt-get update
# redis-server: the local backend runs the student's services without Docker (Gradescope
# has no Docker engine), and the lab's stack needs a Redis.
apt-get install -y --no-install-recommends python3 python3-venv python3-pip redis-server ca-certificates
# Do not leave a Redis running in the image; the grader starts its own per submission.
service redis-server stop || true

python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --quiet --upgrade pip
/autograder/venv/bin/pip install --quiet /autograder/source/grader
# The lab's packages as wheels for this Python: submissions' environments install from here
# first (run_autograder sets LAB4_GRADER_WHEELHOUSE), so a grading does not wait on PyPI.
/autograder/venv/bin/python -m graders.wheelhouse /autograder/wheelhouse /autograder/source/grader/specs/wheelhouse/*.txt
/autograder/venv/bin/python -c "import graders; print('lab4-grader', graders.__version__)"
