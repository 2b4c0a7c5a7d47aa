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
from graders.i18n import _, n_
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
        raise CheckFailed(_("no Dockerfile at {shown}", shown=shown))
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
        where = _("compose command")
    else:
        cmd = df.last("CMD") or df.last("ENTRYPOINT")
        if cmd is None:
            return Outcome.fail(_("the Dockerfile has no CMD (and compose gives the service no command)"))
        if cmd.exec_form is None:
            return Outcome.fail(_("line {line}: CMD is in shell form ({cmd}); use the exec form [\"uvicorn\", ...] "
                                  "so uvicorn gets signals as PID 1", line=cmd.line, cmd=cmd.value.strip()))
        entry = df.last("ENTRYPOINT")
        words = [*(entry.words if entry and cmd.name == "CMD" else []), *cmd.exec_form]
        found, where = server_host(words), _("line {line}: CMD", line=cmd.line)
    found = found or script_server(words, context)
    if isinstance(found, str):
        return Outcome.fail(_("{where}: {found}", where=where, found=found))
    if found is None:
        return Outcome.fail(_("{where} does not run uvicorn (or gunicorn with uvicorn workers): {words}",
                              where=where, words=words))
    server, host = found
    if host not in ("0.0.0.0", "[::]", "::"):
        fix = {"gunicorn": _("use --bind 0.0.0.0:8000"), "uvicorn.run": _('pass host="0.0.0.0"')}.get(
            server.split()[0], _("add --host 0.0.0.0"))
        return Outcome.fail(_("{where}: {server} listens on {host}, which is unreachable from outside the container; "
                              "{fix}", where=where, server=server, host=host, fix=fix))
    plain = server in ("uvicorn", "gunicorn", "fastapi run")  # else a script's server: say which and where
    return Outcome.ok(f"{where} {words}" + ("" if plain else f": {server}, host {host}"))


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
        return Outcome.fail(_("no RUN pip install ... in the Dockerfile"))
    if code_copy is not None and code_copy.line < install.line:
        return Outcome.fail(_("line {line}: the whole app is copied before dependencies are installed (line "
                              "{line2}); every code change reinstalls them", line=code_copy.line, line2=install.line))
    if req_copy is None or req_copy.line > install.line:
        return Outcome.fail(_("line {line}: pip install runs without the requirements file copied first",
                              line=install.line))
    return Outcome.ok(_("line {line} copies requirements, line {line2} installs them, then the code is copied",
                        line=req_copy.line, line2=install.line))


def from_python(df: Dockerfile) -> Outcome:
    base = df.instructions[0].value.split()[0] if df.instructions and df.instructions[0].name == "FROM" else ""
    if fnmatch.fnmatch(base, "python:3*") or fnmatch.fnmatch(base, "*/python:3*"):
        return Outcome.ok(_("FROM {base}", base=base))
    return Outcome.fail(_("the image is based on {base}, expected python:3.*", base=base or _("(no FROM)")))


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
    line = re.match(r"(?:line|строка) (\d+)\b", outcome.message)  # the rules' messages start so, in either language
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
            return Outcome.ok(n_(".dockerignore lists {count} pattern", ".dockerignore lists {count} patterns",
                                 len(ignore.read_bytes().splitlines())))
        return Outcome.fail(_("no .dockerignore (or an empty one) beside the Dockerfile in {folder}",
                              folder=context.name or '.'))
    if body["rule"] == "cmd_uvicorn_exec_form":
        services = ctx.stack_info.services if ctx.stack_info else {}
        command = services.get(ctx.roles.get(body.get("role", "web"), ""), {}).get("command")
        return cmd_uvicorn_exec_form(load(ctx, body), command, build_context(ctx, body))
    if body["rule"] == "requirements_before_code":
        return requirements_before_code(load(ctx, body, whole=True))
    return from_python(load(ctx, body))
