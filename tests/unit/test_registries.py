"""Check types and report formats are found by scanning their packages."""

from __future__ import annotations


def test_registries_scan_every_module_even_if_one_was_imported_first():
    import subprocess
    import sys

    code = ("import graders.checks.http, graders.reports.json\n"
            "from graders.checks import registry\nfrom graders.reports import formats\n"
            "print(len(registry()) > 5, 'text' in formats())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]
