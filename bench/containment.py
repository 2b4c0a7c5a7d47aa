"""Benchmark: what the walls around a grading (docs/policy.md) cost, part by part, measured on
the reference in one run, each against what it replaced:

- `compose config` in a throwaway container vs on the host;
- a writable folder bind copied into a volume (the reference has none; its whole folder is used);
- the grading's cgroup made and removed; the host firewall checked;
- Dockerfiles rewritten (cache mounts, syntax directive).

    python bench/containment.py [--runs N]

Figures are printed, never asserted; the machine is shared, so compare within one run.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from graders.backends.base import Limits  # noqa: E402
from graders.backends.docker import containment  # noqa: E402
from graders.backends.docker.compose_rewrite import LABEL_RUN  # noqa: E402
from graders.backends.process import run_command, scrubbed_env  # noqa: E402


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def cgroup_round_trip(group: containment.GradingCgroup) -> None:
    group.create()
    group.remove()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix="bench-containment-"))
    copy = work / "submission"
    shutil.copytree(ROOT / "reference", copy, ignore=shutil.ignore_patterns("__pycache__", "log.txt"))
    compose = copy / "compose.yaml"
    run_id = secrets.token_hex(4)
    rows: dict[str, list[float]] = {"config on the host": [], "config sandboxed": [], "volume of the folder": [],
                                    "cgroup made and removed": [], "firewall checked": [], "Dockerfiles rewritten": []}
    containment.scratch_image(client)  # made once per engine: not part of a grading's cost
    try:
        for _round in range(args.runs + 1):
            host = timed(lambda: run_command(["docker", "compose", "-f", str(compose), "--project-directory",
                                              str(copy), "-p", f"bench-{run_id}", "config", "--format", "json"],
                                             timeout=60, keep_stdout=True, env=scrubbed_env()))
            sandboxed = timed(lambda: containment.sandboxed_config(client, copy, compose, f"bench-{run_id}",
                                                                   run_id))
            volume = f"bench-{run_id}-{_round}"
            filled = timed(containment.fill_bind_volumes, client,
                           {str(copy): {"key": "v", "volume": volume, "source": str(copy)}}, {LABEL_RUN: run_id})
            client.volumes.get(volume).remove(force=True)
            driver = client.info().get("CgroupDriver", "")
            cgroup = timed(cgroup_round_trip, containment.GradingCgroup(f"bench{run_id}{_round}", Limits(), driver))
            firewall = timed(containment.ensure_host_firewall)
            model = {"services": {"web": {"build": {"context": str(copy), "dockerfile": "Dockerfile"}}}}
            rewrite = timed(containment.contain_dockerfiles, model)
            if _round:  # the first round warms caches
                for key, value in zip(rows, (host, sandboxed, filled, cgroup, firewall, rewrite), strict=True):
                    rows[key].append(value)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        client.close()
    print(f"containment costs on the reference, median of {args.runs} rounds (seconds):")
    for name, values in rows.items():
        print(f"  {name:28s} {statistics.median(values):7.3f}   (min {min(values):.3f}, max {max(values):.3f})")
    extra = statistics.median(rows["config sandboxed"]) - statistics.median(rows["config on the host"])
    print(f"the sandbox adds {extra:.2f} s to a grading's inspect; the rest add "
          f"{sum(statistics.median(rows[k]) for k in list(rows)[3:]):.2f} s (a stack with writable folder "
          f"binds adds about {statistics.median(rows['volume of the folder']):.2f} s per such folder)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
