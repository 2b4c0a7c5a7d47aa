#!/usr/bin/env python3
"""Grade a submission: `python runner.py SUBMISSION/` (see `--help`)."""

import sys

from graders.cli import main

if __name__ == "__main__":
    sys.exit(main())
