"""`dockerfile`: static rules on the Dockerfile, read with a real parser."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
import shlex
from pathlib import Path
from typing import Any

from graders.checks import CheckContext, CheckFailed, check_type
from graders.checks._servers import script_server, server_host
from graders.dockerfile import Dockerfile, parse_dockerfile
from graders.results import Outcome

SCHEMA = {
    "type": "object",
    "required": ["rule"],
    "additionalProperties": False,
    "properties": {
        "rule": {"enum": ["cmd_uvicorn_exec_form", "requirements_before_code", "dockerignore", "from_python"],
                 "description": "`cmd_uvicorn_exec_form`: CMD (or the compose command) runs uvicorn in exec form "
                                "on 0.0.0.0 (gunicorn with uvicorn workers, `fastapi run` and a Python file "
                                "calling uvicorn.run(host=...) count); "
                                "`requirements_before_code`: requirements are copied and installed before the "
                                "code; `dockerignore`: a non-empty .dockerignore beside it; `from_python`: "
                                "the final stage is FROM python:3*"},
        "role": {"type": "string", "description": "whose build to read (default: web)"},
        "file": {"type": "string", "description": "a Dockerfile path in the submission, instead of the role's"},
    },
}

REQUIREMENT_FILES = ("requirements*.txt", "pyproject.toml", "Pipfile*", "poetry.lock", "setup.py")


def dockerfile_path(ctx: CheckContext, body: dict[str, Any]) -> Path:
    """The role's build (context + dockerfile) when there is one, else ./Dockerfile."""
    if "file" in body:
        return ctx.submission / body["file"]
    services = ctx.stack_info.services if ctx.stack_info else {}
    build = services.get(ctx.roles.get(body.get("role", "web"), ""), {}).get("build")
    if isinstance(build, dict) and build.get("context"):
        return Path(build["context"]) / build.get("dockerfile", "Dockerfile")
    return ctx.submission / "Dockerfile"


def build_context(ctx: CheckContext, body: dict[str, Any]) -> Path:
    services = ctx.stack_info.services if ctx.stack_info else {}
    build = services.get(ctx.roles.get(body.get("role", "web"), ""), {}).get("build")
    return Path(build["context"]) if isinstance(build, dict) and build.get("context") else ctx.submission


def load(ctx: CheckContext, body: dict[str, Any], whole: bool = False) -> Dockerfile:
    """The final stage (what runs), or with `whole` every stage."""
    path = dockerfile_path(ctx, body)
    if not path.is_file():
        shown = path.relative_to(ctx.submission) if path.is_relative_to(ctx.submission) else path
        raise CheckFailed(f"no Dockerfile at {shown}")
    parsed = parse_dockerfile(path)
    return parsed if whole else parsed.final_stage()


def cmd_uvicorn_exec_form(df: Dockerfile, command: Any = None, context: Path | None = None) -> Outcome:
    """The command the web service runs serves on 0.0.0.0: the compose `command` when there is
    one (compose never runs it through a shell), else the Dockerfile's CMD in exec form. A
    Python file that calls uvicorn.run(app, host=...), or a shell script that `exec`s the server,
    is read from the build `context`."""
    if command:
        words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
        found = server_host(words)
        where = "compose command"
    else:
        cmd = df.last("CMD") or df.last("ENTRYPOINT")
        if cmd is None:
            return Outcome.fail("the Dockerfile has no CMD (and compose gives the service no command)")
        if cmd.exec_form is None:
            return Outcome.fail(f"line {cmd.line}: CMD is in shell form ({cmd.value.strip()}); use the exec form "
                                f'["uvicorn", ...] so uvicorn gets signals as PID 1')
        entry = df.last("ENTRYPOINT")
        words = [*(entry.words if entry and cmd.name == "CMD" else []), *cmd.exec_form]
        found, where = server_host(words), f"line {cmd.line}: CMD"
    found = found or script_server(words, context)
    if isinstance(found, str):
        return Outcome.fail(f"{where}: {found}")
    if found is None:
        return Outcome.fail(f"{where} does not run uvicorn (or gunicorn with uvicorn workers): {words}")
    server, host = found
    if host not in ("0.0.0.0", "[::]", "::"):
        fix = {"gunicorn": "use --bind 0.0.0.0:8000", "uvicorn.run": 'pass host="0.0.0.0"'}.get(
            server.split()[0], "add --host 0.0.0.0")
        return Outcome.fail(f"{where}: {server} listens on {host}, which is unreachable from outside the "
                            f"container; {fix}")
    return Outcome.ok(f"{where} {words}" + (f": {server}, host {host}" if " in " in server else ""))


def _copies_requirements(words: list[str]) -> bool:
    sources = [w for w in words[:-1] if not w.startswith("--")]
    return any(fnmatch.fnmatch(Path(s).name, pattern) for s in sources for pattern in REQUIREMENT_FILES)


def _copies_everything(words: list[str]) -> bool:
    sources = [w for w in words[:-1] if not w.startswith("--")]
    return any(s in (".", "./", "*", "./*") for s in sources)


def requirements_before_code(df: Dockerfile) -> Outcome:
    """In the stage that installs the dependencies (the last with a pip install: a multi-stage
    build installs them in its builder), requirements are copied and installed before the code."""
    installs = [s for s in df.stages() if any(i.name == "RUN" and "pip" in i.value and "install" in i.value
                                              for i in s.instructions)]
    df = installs[-1] if installs else df.final_stage()
    req_copy = install = code_copy = None
    for ins in df.instructions:
        if ins.name in ("COPY", "ADD"):
            if req_copy is None and _copies_requirements(ins.words):
                req_copy = ins
            if code_copy is None and _copies_everything(ins.words):
                code_copy = ins
        elif ins.name == "RUN" and install is None and "pip" in ins.value and "install" in ins.value:
            install = ins
    if install is None:
        return Outcome.fail("no RUN pip install ... in the Dockerfile")
    if code_copy is not None and code_copy.line < install.line:
        return Outcome.fail(f"line {code_copy.line}: the whole app is copied before dependencies are installed "
                            f"(line {install.line}); every code change reinstalls them")
    if req_copy is None or req_copy.line > install.line:
        return Outcome.fail(f"line {install.line}: pip install runs without the requirements file copied first")
    return Outcome.ok(f"line {req_copy.line} copies requirements, line {install.line} installs them, "
                      f"then the code is copied")


def from_python(df: Dockerfile) -> Outcome:
    base = df.instructions[0].value.split()[0] if df.instructions and df.instructions[0].name == "FROM" else ""
    if fnmatch.fnmatch(base, "python:3*") or fnmatch.fnmatch(base, "*/python:3*"):
        return Outcome.ok(f"FROM {base}")
    return Outcome.fail(f"the image is based on {base or 'nothing'}, expected python:3.*")


EXAMPLE = """\
- id: cmd_exec_form
  points: 3
  dockerfile: {rule: cmd_uvicorn_exec_form}
- id: dockerignore
  points: 1
  dockerfile: {rule: dockerignore}
"""


@check_type("dockerfile", schema=SCHEMA, needs_stack=False, example=EXAMPLE)
async def run(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    outcome = _rule(ctx, body)
    path = dockerfile_path(ctx, body)
    line = re.match(r"line (\d+)\b", outcome.message)
    if line and not outcome.passed:  # CI annotates that line of the student's file
        # The Docker backend builds from a private copy: a path outside the submission is the copy's.
        shown = path.relative_to(ctx.submission) if path.is_relative_to(ctx.submission) else Path(path.name)
        return dataclasses.replace(outcome, file=shown.as_posix(), line=int(line[1]))
    return outcome


def _rule(ctx: CheckContext, body: dict[str, Any]) -> Outcome:
    if body["rule"] == "dockerignore":
        context = dockerfile_path(ctx, body).parent
        ignore = context / ".dockerignore"
        if ignore.is_file() and ignore.read_bytes().strip():
            return Outcome.ok(f".dockerignore lists {len(ignore.read_bytes().splitlines())} patterns")
        return Outcome.fail(f"no .dockerignore (or an empty one) beside the Dockerfile in {context.name or '.'}")
    if body["rule"] == "cmd_uvicorn_exec_form":
        services = ctx.stack_info.services if ctx.stack_info else {}
        command = services.get(ctx.roles.get(body.get("role", "web"), ""), {}).get("command")
        return cmd_uvicorn_exec_form(load(ctx, body), command, build_context(ctx, body))
    if body["rule"] == "requirements_before_code":
        return requirements_before_code(load(ctx, body, whole=True))
    return from_python(load(ctx, body))
