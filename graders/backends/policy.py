"""What the grader refuses to run: one place, pure functions, no Docker.

A submission runs as root in containers on a machine shared with other gradings, so
anything that would reach outside its own containers is refused *before* anything runs.
Three passes, in the order `DockerBackend.inspect()` calls them:

1. `check_files(submission, compose_file)`: the folder itself (symlinks that lead out
   of it, special files, size) and a bounded raw-YAML pre-scan of the
   compose file for what `docker compose config` would read from the host while
   normalising (`env_file`, `extends.file`, `include`) and for YAML bombs.
2. `docker compose config` (the caller's business), with a scrubbed environment
   (`compose_env()`), so `${VAR}` cannot copy the grader's environment into a container.
3. `check_model(model, submission)`: the normalised model, service by service (host
   namespaces, privileges, devices, bind mounts, build contexts, Dockerfiles...) and the
   top-level networks, volumes, secrets and configs.

Every function returns a list of violations, each naming the service (or file) and the
key, e.g. "service 'web': privileged: true is not allowed". An empty list means "run it".
The rules, why, and what the student sees: docs/policy.md. Containment of what does run
(limits, capabilities, log size) is compose_rewrite's job, not this module's.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

MAX_COMPOSE_BYTES = 1024 * 1024
MAX_DOCKERFILE_BYTES = 1024 * 1024
MAX_YAML_DEPTH = 64  # nesting of the composed YAML document
MAX_YAML_ALIASES = 500  # `*anchor` uses; the reference has 3
MAX_YAML_NODES = 200_000  # nodes once every alias is expanded (a billion-laughs file has ~10^9)
MAX_INCLUDE_DEPTH = 4  # extends.file / include nesting followed by the pre-scan
MAX_TREE_ENTRIES = 20_000  # files and folders in the submission
MAX_TREE_BYTES = 512 * 1024 * 1024  # apparent size of all files (a sparse 1 TB file counts as 1 TB)
MAX_TREE_DEPTH = 64  # folders within folders (os.walk recurses)
SHOWN = 5  # at most this many offending paths named per rule

# Kept for `docker compose config`: how to reach the engine and the compose plugin, nothing else.
COMPOSE_ENV_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "XDG_RUNTIME_DIR", "DOCKER_HOST", "DOCKER_CONFIG",
                    "DOCKER_CONTEXT", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "DOCKER_API_VERSION")

CONFINEMENT_OFF = re.compile(r"^(seccomp|apparmor|label|systempaths)[=:]", re.IGNORECASE)
RUN_FLAGS = re.compile(r"^\s*RUN((?:\s+--[^\s]+)+)", re.IGNORECASE | re.MULTILINE)
ALLOWED_VOLUME_TYPES = ("bind", "volume", "tmpfs")


def compose_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment `docker compose config` may interpolate `${VAR}` from: no secrets
    of the grader's (tokens, proxies, CI variables) end up in a student's container."""
    source = os.environ if environ is None else environ
    return {key: source[key] for key in COMPOSE_ENV_KEEP if key in source}


# --- helpers ------------------------------------------------------------------------------

def _real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: str | os.PathLike[str], root: Path) -> bool:
    """`path`, with every symlink resolved, is `root` or below it."""
    real, top = _real(path), _real(root)
    return real == top or top in real.parents


def _resolve(path: str, base: Path) -> Path:
    return Path(path) if os.path.isabs(path) else base / path


def _is_url(text: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE)) or text.startswith("git@")


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "yes", "1", "on")


# --- 1. the folder ------------------------------------------------------------------------

def check_tree(submission: Path, max_entries: int = MAX_TREE_ENTRIES, max_bytes: int = MAX_TREE_BYTES) -> list[str]:
    """Walk the submission without following symlinks: links that lead out of it, special
    files (a FIFO named Dockerfile would hang whoever reads it; a device node read as a file
    is a host disk), size, depth.

    Hard links are not refused: a student's archive cannot make one to a file outside it
    (tar links only to its own members), while a local `git clone` hard-links .git/objects."""
    root = submission.resolve()
    escaping: list[str] = []
    special: list[str] = []
    entries = total = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        if len(Path(folder).relative_to(root).parts) >= MAX_TREE_DEPTH:
            return [f"the submission's folders are nested more than {MAX_TREE_DEPTH} levels deep"]
        for name in sorted(dirs) + sorted(files):
            entries += 1
            if entries > max_entries:
                return [f"the submission has more than {max_entries} files and folders (a virtualenv or "
                        f"node_modules inside?); submit only the project's own files"]
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                if not _inside(path, root):
                    escaping.append(f"{rel} -> {os.readlink(path)}")
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
            elif not stat.S_ISDIR(info.st_mode):
                special.append(rel)
    problems = []
    if escaping:
        problems.append(f"symlinks leading outside the submission are not allowed: {_listed(escaping)}")
    if special:
        problems.append(f"special files (FIFOs, sockets, devices) are not allowed: {_listed(special)}")
    if total > max_bytes:
        problems.append(f"the submission's files add up to {total // 2**20} MB, more than the "
                        f"{max_bytes // 2**20} MB allowed")
    return problems


# --- 1. the raw compose file --------------------------------------------------------------

class YamlTooBig(ValueError):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting and many aliases while composing; the expanded
    size is measured on the node graph (`_expanded_size`) before anything is constructed."""

    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0
        self.aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise YamlTooBig(f"more than {MAX_YAML_ALIASES} aliases (*name)")
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            raise YamlTooBig(f"nested more than {MAX_YAML_DEPTH} levels deep")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _plain(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    """Compose-only tags (`!reset`, `!override`) read as their plain value."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_scalar(node)


_BoundedLoader.add_multi_constructor("!", _plain)


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise YamlTooBig("an alias refers to itself")
    active.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo, active) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo, active) + _expanded_size(v, memo, active) for k, v in node.value)
    active.discard(key)
    memo[key] = size
    if size > MAX_YAML_NODES:
        raise YamlTooBig(f"more than {MAX_YAML_NODES} nodes once its aliases are expanded (a YAML bomb?)")
    return size


def load_yaml_bounded(text: str) -> Any:
    """yaml.safe_load with limits on depth, aliases and expanded size; raises YamlTooBig
    or yaml.YAMLError."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _file_list(value: Any) -> list[str]:
    """env_file / include path forms: a string, a list of strings or of {path: ...}."""
    items = value if isinstance(value, list) else [value]
    found = []
    for item in items:
        if isinstance(item, dict):
            path = item.get("path")
            found.extend(path if isinstance(path, list) else [path] if path is not None else [])
        elif item is not None:
            found.append(item)
    return [str(p) for p in found]


def check_raw_compose(compose_file: Path, submission: Path, _depth: int = 0) -> list[str]:
    """Before `docker compose config` runs: it would read every `env_file`, `extends.file`
    and `include` (and their own) from the host, wherever they point. Also bounds the
    file's size and its YAML."""
    root = submission.resolve()
    label = _real(compose_file).relative_to(root).as_posix() if _inside(compose_file, root) else str(compose_file)
    try:
        size = compose_file.stat().st_size
    except OSError as exc:
        return [f"{label}: cannot be read ({exc.strerror})"]
    if size > MAX_COMPOSE_BYTES:
        return [f"{label}: {size // 1024} KB, larger than the {MAX_COMPOSE_BYTES // 1024} KB allowed for a "
                f"compose file"]
    try:
        data = load_yaml_bounded(compose_file.read_text(encoding="utf-8", errors="replace"))
    except YamlTooBig as exc:
        return [f"{label}: refused: {exc}"]
    except (yaml.YAMLError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        return [f"{label}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}"]
    if not isinstance(data, dict):
        return []  # `docker compose config` explains what a compose file must look like
    base = compose_file.parent
    prefix = f"{label}: " if _depth else ""  # the student's own compose file goes unnamed
    problems: list[str] = []
    nested: list[Path] = []

    def path_rule(where: str, path: str, what: str) -> Path | None:
        if "$" in path:
            problems.append(f"{where}: {what} '{path}' uses a variable; write the path itself")
            return None
        target = _resolve(path, base)
        if not _inside(target, root):
            problems.append(f"{where}: {what} '{path}' is outside the submission folder")
            return None
        return target

    services = data.get("services")
    for name, service in sorted((services or {}).items() if isinstance(services, dict) else [], key=str):
        if not isinstance(service, dict):
            continue
        where = f"{prefix}service '{name}'"
        for path in _file_list(service.get("env_file")):
            path_rule(where, path, "env_file")
        extends = service.get("extends")
        if isinstance(extends, dict) and extends.get("file") is not None:
            target = path_rule(where, str(extends["file"]), "extends.file")
            if target is not None:
                nested.append(target)
    includes = data.get("include")
    for item in includes if isinstance(includes, list) else [includes] if includes else []:
        for path in _file_list(item):
            target = path_rule(f"{prefix}include", path, "file")
            if target is not None:
                nested.append(target)
        if isinstance(item, dict):
            for key in ("env_file", "project_directory"):
                for path in _file_list(item.get(key)) if item.get(key) is not None else []:
                    path_rule(f"{prefix}include", path, key)
    for target in nested:
        if _depth >= MAX_INCLUDE_DEPTH:
            problems.append(f"{label}: extends/include nested more than {MAX_INCLUDE_DEPTH} levels deep")
            break
        if target.is_file() and target.resolve() != compose_file.resolve():
            problems.extend(check_raw_compose(target, root, _depth + 1))
    return problems


def check_files(submission: Path, compose_file: Path | None) -> list[str]:
    """Pass 1: everything that must hold before `docker compose config` reads anything."""
    problems = check_tree(submission)
    if compose_file is not None and _inside(compose_file, submission):  # never read a host file through a link
        problems += check_raw_compose(compose_file, submission)
    return problems


# --- 3. the normalised model --------------------------------------------------------------

def check_dockerfile_text(path: Path, where: str, root: Path | None = None) -> list[str]:
    """Size and RUN flags of a Dockerfile of the submission (one outside `root` is not read)."""
    if root is not None and not _inside(path, root):
        return []
    try:
        size = path.stat().st_size
    except OSError:
        return []  # a missing Dockerfile is the build's failure to report, not a rule broken
    if size > MAX_DOCKERFILE_BYTES:
        return [f"{where}: the Dockerfile is {size // 1024} KB, larger than the "
                f"{MAX_DOCKERFILE_BYTES // 1024} KB allowed"]
    return _dockerfile_flags(path.read_text(encoding="utf-8", errors="replace"), where)


def _dockerfile_flags(text: str, where: str) -> list[str]:
    """`RUN --network=host` runs a build step in the host's network namespace (the engine
    grants that by default); `--security=insecure` asks for a privileged build step."""
    problems = []
    for match in RUN_FLAGS.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        for flag in match.group(1).split():
            lowered = flag.lower()
            if lowered in ("--network=host", "--security=insecure"):
                problems.append(f"{where}: Dockerfile line {line}: RUN {flag} is not allowed")
    return problems


def _namespace_rule(where: str, key: str, value: Any, services: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    if value in (None, "") or value in allowed:
        return []
    text = str(value)
    if text.startswith("service:") and text.split(":", 1)[1] in services:
        return []
    if text == "host":
        return [f"{where}: {key}: host is not allowed (it shares the host's namespace)"]
    if text.startswith("container:"):
        return [f"{where}: {key}: {text} is not allowed (a container outside this project)"]
    return [f"{where}: {key}: {text} is not allowed"]


def _check_build(where: str, build: Any, root: Path, services: dict[str, Any]) -> list[str]:
    if isinstance(build, str):
        build = {"context": build}
    if not isinstance(build, dict):
        return []
    problems = []
    context = str(build.get("context") or ".")
    context_path = _resolve(context, root)
    if _is_url(context):
        problems.append(f"{where}: build.context '{context}' is not a folder of the submission")
        context_ok = False
    else:
        context_ok = _inside(context_path, root)
        if not context_ok:
            problems.append(f"{where}: build.context '{context}' is outside the submission folder")
    if build.get("dockerfile") and not build.get("dockerfile_inline"):
        dockerfile = _resolve(str(build["dockerfile"]), context_path)
        if not _inside(dockerfile, root):
            problems.append(f"{where}: build.dockerfile '{build['dockerfile']}' is outside the submission folder")
        elif context_ok:
            problems += check_dockerfile_text(dockerfile, where, root)
    elif build.get("dockerfile_inline"):
        text = str(build["dockerfile_inline"])
        if len(text.encode()) > MAX_DOCKERFILE_BYTES:
            problems.append(f"{where}: build.dockerfile_inline is larger than {MAX_DOCKERFILE_BYTES // 1024} KB")
        problems += _dockerfile_flags(text, where)
    elif context_ok:
        problems += check_dockerfile_text(context_path / "Dockerfile", where, root)
    for name, value in sorted((build.get("additional_contexts") or {}).items()):
        value = str(value)
        if value.startswith("docker-image://") or (value.startswith("service:") and value[8:] in services):
            continue
        if _is_url(value) or not _inside(_resolve(value, context_path), root):
            problems.append(f"{where}: build.additional_contexts.{name} '{value}' is outside the submission folder")
    if build.get("ssh"):
        problems.append(f"{where}: build.ssh is not allowed (it would lend the grader's SSH agent or keys)")
    if build.get("network") not in (None, "", "default", "none"):
        problems.append(f"{where}: build.network: {build['network']} is not allowed")
    if _truthy(build.get("privileged")):
        problems.append(f"{where}: build.privileged: true is not allowed")
    if build.get("entitlements"):
        problems.append(f"{where}: build.entitlements are not allowed")
    for key in ("cache_from", "cache_to"):
        for entry in build.get(key) or []:
            if "type=local" in str(entry).replace(" ", ""):
                problems.append(f"{where}: build.{key} '{entry}' is not allowed (a folder on the host)")
    return problems


def _check_volumes(where: str, service: dict[str, Any], root: Path, model: dict[str, Any]) -> list[str]:
    problems = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):  # not normalised: SOURCE:TARGET[:MODE]
            source, _, rest = volume.partition(":")
            volume = {"type": "bind" if rest and (source.startswith((".", "/", "~"))) else "volume",
                      "source": source if rest else None, "target": rest or source}
        kind = volume.get("type", "volume")
        source = str(volume.get("source") or "")
        target = volume.get("target", "?")
        if kind not in ALLOWED_VOLUME_TYPES:
            problems.append(f"{where}: volumes: type {kind} ({source or target}) is not allowed")
        elif kind == "bind":
            if os.path.basename(source.rstrip("/")) == "docker.sock" or _real(source).name == "docker.sock":
                problems.append(f"{where}: volumes: '{source}' (the Docker socket) is not allowed: it gives "
                                f"the container control of the host")
            elif not _inside(_resolve(source, root), root):
                problems.append(f"{where}: volumes: '{source}:{target}' binds a host path outside the "
                                f"submission folder")
    for entry in service.get("volumes_from") or []:
        text = str(entry)
        if text.startswith("container:") or text.split(":")[0] not in (model.get("services") or {}):
            problems.append(f"{where}: volumes_from: {text} is not allowed (a container outside this project)")
    return problems


def _check_service(name: str, service: dict[str, Any], root: Path, model: dict[str, Any]) -> list[str]:
    where = f"service '{name}'"
    services = model.get("services") or {}
    problems: list[str] = []
    if _truthy(service.get("privileged")):
        problems.append(f"{where}: privileged: true is not allowed")
    network_mode = service.get("network_mode")
    if network_mode not in (None, "", "none") and not (
            str(network_mode).startswith("service:") and str(network_mode)[8:] in services):
        why = {"host": "it shares the host's network", "bridge": "it joins the engine's default bridge, "
               "shared with containers outside this project"}.get(str(network_mode), "outside this project")
        problems.append(f"{where}: network_mode: {network_mode} is not allowed ({why})")
    problems += _namespace_rule(where, "pid", service.get("pid"), services, ())
    problems += _namespace_rule(where, "ipc", service.get("ipc"), services, ("private", "shareable", "none"))
    problems += _namespace_rule(where, "uts", service.get("uts"), services, ())
    problems += _namespace_rule(where, "userns_mode", service.get("userns_mode"), services, ())
    problems += _namespace_rule(where, "cgroup", service.get("cgroup"), services, ("private",))
    if service.get("cap_add"):
        problems.append(f"{where}: cap_add: {', '.join(map(str, service['cap_add']))} is not allowed "
                        f"(containers get a fixed small set of capabilities)")
    for key in ("devices", "device_cgroup_rules", "gpus"):
        if service.get(key):
            problems.append(f"{where}: {key} is not allowed (host devices)")
    reservations = ((service.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    if reservations.get("devices"):
        problems.append(f"{where}: deploy.resources.reservations.devices is not allowed (host devices)")
    for option in service.get("security_opt") or []:
        text = str(option)
        if text.replace("=", ":").split(":")[0].strip().lower() == "no-new-privileges":
            continue
        why = "it turns off the container's confinement" if CONFINEMENT_OFF.match(text) else \
            "only no-new-privileges is accepted"
        problems.append(f"{where}: security_opt '{text}' is not allowed ({why})")
    if service.get("cgroup_parent"):
        problems.append(f"{where}: cgroup_parent is not allowed (the grader places every container)")
    if service.get("runtime") not in (None, "", "runc"):
        problems.append(f"{where}: runtime: {service['runtime']} is not allowed")
    if _truthy(service.get("oom_kill_disable")):
        problems.append(f"{where}: oom_kill_disable: true is not allowed (a container over its memory limit "
                        f"must be killed, not frozen)")
    try:
        if int(service.get("oom_score_adj") or 0) < 0:
            problems.append(f"{where}: a negative oom_score_adj is not allowed")
    except (TypeError, ValueError):
        pass
    if service.get("external_links"):
        problems.append(f"{where}: external_links is not allowed (containers outside this project)")
    for network, config in (service.get("networks") or {}).items():
        if isinstance(config, dict) and (config.get("ipv4_address") or config.get("ipv6_address")):
            problems.append(f"{where}: networks.{network}: fixed IP addresses are not allowed")
    problems += _check_volumes(where, service, root, model)
    for path in _file_list(service.get("env_file")):  # normally inlined by `compose config`; still checked
        if not _inside(_resolve(path, root), root):
            problems.append(f"{where}: env_file '{path}' is outside the submission folder")
    if service.get("build"):
        problems += _check_build(where, service["build"], root, services)
    return problems


def _check_top_level(model: dict[str, Any], root: Path) -> list[str]:
    problems = []
    project = model.get("name")
    for section in ("networks", "volumes"):
        for key, item in sorted((model.get(section) or {}).items()):
            item = item or {}
            where = f"{section}.{key}"
            singular = section[:-1]
            if _truthy(item.get("external")) or isinstance(item.get("external"), dict):
                problems.append(f"{where}: external: true is not allowed (a {singular} outside this project)")
                continue
            if project and item.get("name") and item["name"] != f"{project}_{key}":
                problems.append(f"{where}: name: {item['name']} is not allowed (it could be an existing "
                                f"{singular} outside this project)")
            driver = item.get("driver")
            if section == "networks":
                if driver not in (None, "", "bridge"):
                    problems.append(f"{where}: driver: {driver} is not allowed (only bridge)")
                if item.get("driver_opts"):
                    problems.append(f"{where}: driver_opts are not allowed")
                if (item.get("ipam") or {}).get("config") or (item.get("ipam") or {}).get("driver"):
                    problems.append(f"{where}: ipam settings are not allowed (a fixed subnet can clash with "
                                    f"the host's networks)")
            else:
                if driver not in (None, "", "local"):
                    problems.append(f"{where}: driver: {driver} is not allowed (only local)")
                problems += _check_driver_opts(where, item.get("driver_opts") or {}, root)
    for section in ("secrets", "configs"):
        for key, item in sorted((model.get(section) or {}).items()):
            item = item or {}
            where = f"{section}.{key}"
            if _truthy(item.get("external")) or isinstance(item.get("external"), dict):
                problems.append(f"{where}: external: true is not allowed")
            if item.get("environment"):
                problems.append(f"{where}: environment: {item['environment']} is not allowed (it would read "
                                f"the grader's environment)")
            if item.get("file") and not _inside(_resolve(str(item["file"]), root), root):
                problems.append(f"{where}: file '{item['file']}' is outside the submission folder")
    return problems


def _check_driver_opts(where: str, opts: dict[str, Any], root: Path) -> list[str]:
    """A local volume may be a tmpfs or a bind of a folder of the submission; nothing else
    (a bind of /etc, an NFS or CIFS mount, a block device)."""
    if not opts:
        return []
    kind = str(opts.get("type", ""))
    options = str(opts.get("o", ""))
    device = str(opts.get("device", ""))
    if kind == "tmpfs" and device in ("", "tmpfs") and "bind" not in options:
        return []
    if "bind" in options.split(",") and device and _inside(_resolve(device, root), root):
        return []
    return [f"{where}: driver_opts {opts} are not allowed (only a tmpfs, or a bind of a folder of the "
            f"submission)"]


def check_model(model: dict[str, Any], submission: Path) -> list[str]:
    """Pass 3: the normalised compose model (`docker compose config --format json`)."""
    root = submission.resolve()
    problems = []
    for name, service in sorted((model.get("services") or {}).items()):
        problems += _check_service(name, service or {}, root, model)
    return problems + _check_top_level(model, root)


REFUSAL_DETAILS = ("The grader runs nothing that could reach outside the submission's own containers, so the "
                   "stack was not built or started. Fix each item listed and submit again.")


def refusal_message(violations: list[str]) -> str:
    return "refused before running: " + "; ".join(violations)
