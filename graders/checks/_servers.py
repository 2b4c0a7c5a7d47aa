"""Which ASGI server a command starts, and where it listens: uvicorn, gunicorn with uvicorn
workers, `fastapi run`, a Python file calling uvicorn.run, or a shell script that execs one."""

from __future__ import annotations

import ast
import shlex
from pathlib import Path

from graders.i18n import _


def server_host(words: list[str]) -> tuple[str, str] | None:
    """(server, host it listens on) for an ASGI server command: uvicorn (also `python -m`),
    gunicorn with uvicorn workers, `fastapi run`; None when it runs none of these."""
    def option(*names: str) -> str | None:
        values = [words[i + 1] for i, w in enumerate(words[:-1]) if w in names]
        values += [w.split("=", 1)[1] for w in words if w.split("=", 1)[0] in names and "=" in w]
        return values[-1] if values else None

    if any(w == "uvicorn" or w.endswith("/uvicorn") for w in words):
        return "uvicorn", option("--host") or _("127.0.0.1 (default)")
    if any(w == "gunicorn" or w.endswith("/gunicorn") for w in words):
        if not any("uvicorn" in w.lower() for w in words):
            return None  # gunicorn's own sync workers cannot run FastAPI
        bind = option("--bind", "-b")
        return "gunicorn", bind.rsplit(":", 1)[0] if bind else _("127.0.0.1 (default)")
    if "fastapi" in [w.rsplit("/", 1)[-1] for w in words] and "run" in words:
        return "fastapi run", option("--host") or "0.0.0.0"
    return None


def _script(words: list[str], context: Path) -> Path | None:
    """The file `python [-u] X.py` or `python -m pkg.mod` runs, found in the build context."""
    if not words or not Path(words[0]).name.startswith("python"):
        return None
    args = [w for w in words[1:] if w not in ("-u", "-B", "-O")]
    if args[:1] == ["-m"] and len(args) > 1:
        module = args[1].replace(".", "/")
        candidates = [context / f"{module}.py", context / module / "__main__.py"]
    elif args and args[0].endswith(".py"):
        candidates = [context / args[0].lstrip("/"), context / Path(args[0]).name]
    else:
        return None
    return next((c for c in candidates if c.is_file() and c.resolve().is_relative_to(context.resolve())), None)


def _literal_host(node: ast.expr) -> str | None:
    """"0.0.0.0", or the default of os.getenv("HOST", "0.0.0.0") / os.environ.get(...)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Call) and len(node.args) == 2 and isinstance(node.func, ast.Attribute) \
            and node.func.attr in ("getenv", "get"):
        return _literal_host(node.args[1])
    return None


def _uvicorn_runs(tree: ast.AST) -> list[ast.Call]:
    """Calls of uvicorn.run (`import uvicorn [as u]`, `from uvicorn import run`)."""
    modules = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
               if a.name == "uvicorn"}
    functions = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 and n.module == "uvicorn" for a in n.names if a.name == "run"}
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and (
        isinstance(n.func, ast.Attribute) and n.func.attr == "run" and isinstance(n.func.value, ast.Name)
        and n.func.value.id in modules or isinstance(n.func, ast.Name) and n.func.id in functions)]


SHELLS = ("sh", "bash", "ash", "dash")


def _shell_script(words: list[str], context: Path) -> Path | None:
    """The script `./start.sh`, `sh start.sh` or `bash -e /app/start.sh` runs, in the build context."""
    args = words[1:] if words and Path(words[0]).name in SHELLS else words
    args = [w for w in args if not w.startswith("-")]
    if not args or not args[0].endswith(".sh"):
        return None
    name = args[0]
    candidates = [context / name.lstrip("/"), context / Path(name).name]
    return next((c for c in candidates if c.is_file() and c.resolve().is_relative_to(context.resolve())), None)


def _shell_server(script: Path) -> tuple[str, str] | str | None:
    """The server a shell script starts, or why it is not the container's main process."""
    text = script.read_bytes()[:200_000].decode("utf-8", errors="replace").replace("\\\n", " ")
    for line in reversed(text.splitlines()):
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words and (found := server_host(words[1:] if words[0] == "exec" else words)):
            if words[0] != "exec":
                return _("{script} starts {server} without `exec`: the shell stays PID 1 and {server} never "
                         "gets SIGTERM; write `exec {server} ...`", script=script.name, server=found[0])
            return _("{server} (exec in {script})", server=found[0], script=script.name), found[1]
    return None


def script_server(words: list[str], context: Path | None) -> tuple[str, str] | str | None:
    """(server, host) when the command runs a Python file that calls uvicorn.run, or a shell
    script that `exec`s a server; a text when it starts one the wrong way; None otherwise."""
    if context is None:
        return None
    if shell := _shell_script(words, context):
        try:
            return _shell_server(shell)
        except OSError:
            return None
    script = _script(words, context)
    try:
        calls = _uvicorn_runs(ast.parse(script.read_bytes()[:200_000])) if script else []
    except (SyntaxError, ValueError, OSError):
        return None
    if not calls:
        return None
    host = next((k.value for k in calls[0].keywords if k.arg == "host"), None)
    if host is None:
        return _("uvicorn.run in {script}", script=script.name), _("127.0.0.1 (default)")
    # An expression we cannot evaluate: the stack answering on its published port shows where it listens.
    return _("uvicorn.run in {script}", script=script.name), _literal_host(host) or "0.0.0.0"
