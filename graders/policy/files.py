"""The policy's first pass: the submission's files, before anything reads them.

The folder (symlinks that lead out of it, special files, size), a bounded raw-YAML pre-scan
of the compose file for what `docker compose config` would read from the host (`env_file`,
`extends.file`, `include`) and for YAML bombs. Dockerfiles: dockerfiles.py. The
constants and path helpers the rules share live here; `graders.policy` is the one place callers use.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from graders.i18n import _

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

CONFINEMENT_OFF = re.compile(r"^(seccomp|apparmor|label|systempaths)[=:]", re.IGNORECASE)
ALLOWED_VOLUME_TYPES = ("bind", "volume", "tmpfs")


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
    more = _(" and {value} more", value=len(items) - SHOWN) if len(items) > SHOWN else ""
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
            return [_("the submission's folders are nested more than {max_tree_depth} levels deep",
                      max_tree_depth=MAX_TREE_DEPTH)]
        for name in sorted(dirs) + sorted(files):
            entries += 1
            if entries > max_entries:
                return [_("the submission has more than {max_entries} files and folders (a virtualenv or "
                          "node_modules inside?); submit only the project's own files", max_entries=max_entries)]
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
        problems.append(_("symlinks leading outside the submission are not allowed: {listed}",
                          listed=_listed(escaping)))
    if special:
        problems.append(_("special files (FIFOs, sockets, devices) are not allowed: {listed}", listed=_listed(special)))
    if total > max_bytes:
        problems.append(_("the submission's files add up to {value} MB, more than the {value2} MB allowed",
                          value=total // 2**20, value2=max_bytes // 2**20))
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
                raise YamlTooBig(_("more than {max_yaml_aliases} aliases (*name)", max_yaml_aliases=MAX_YAML_ALIASES))
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            raise YamlTooBig(_("nested more than {max_yaml_depth} levels deep", max_yaml_depth=MAX_YAML_DEPTH))
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
        raise YamlTooBig(_("more than {max_yaml_nodes} nodes once its aliases are expanded (a YAML bomb?)",
                           max_yaml_nodes=MAX_YAML_NODES))
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
        return [_("{label}: cannot be read ({strerror})", label=label, strerror=exc.strerror)]
    if size > MAX_COMPOSE_BYTES:
        return [_("{label}: {value} KB, larger than the {value2} KB allowed for a compose file", label=label,
                  value=size // 1024, value2=MAX_COMPOSE_BYTES // 1024)]
    try:
        data = load_yaml_bounded(compose_file.read_text(encoding="utf-8", errors="replace"))
    except YamlTooBig as exc:
        return [_("{label}: refused: {exc}", label=label, exc=exc)]
    except (yaml.YAMLError, RecursionError) as exc:
        mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        where = _(" (line {value})", value=mark.line + 1) if mark is not None else ""
        started = (_(", {context} on line {value}", context=exc.context, value=context.line + 1)
                   if context is not None and getattr(exc, "context", None) else "")
        return [_("{label}: not valid YAML{where}: {value}{started}", label=label, where=where,
                  value=getattr(exc, 'problem', None) or exc, started=started)]
    if not isinstance(data, dict):
        return []  # `docker compose config` explains what a compose file must look like
    base = compose_file.parent
    prefix = f"{label}: " if _depth else ""  # the student's own compose file goes unnamed
    problems: list[str] = []
    nested: list[Path] = []

    def path_rule(where: str, path: str, what: str) -> Path | None:
        if "$" in path:
            problems.append(_("{where}: {what} '{path}' uses a variable; write the path itself", where=where, what=what,
                              path=path))
            return None
        target = _resolve(path, base)
        if not _inside(target, root):
            problems.append(_("{where}: {what} '{path}' is outside the submission folder", where=where, what=what,
                              path=path))
            return None
        return target

    services = data.get("services")
    for name, service in sorted((services or {}).items() if isinstance(services, dict) else [], key=str):
        if not isinstance(service, dict):
            continue
        where = _("{prefix}service '{name}'", prefix=prefix, name=name)
        for key in ("env_file", "label_file"):  # both read by `compose config` itself
            for path in _file_list(service.get(key)):
                path_rule(where, path, key)
        extends = service.get("extends")
        if isinstance(extends, dict) and extends.get("file") is not None:
            target = path_rule(where, str(extends["file"]), "extends.file")
            if target is not None:
                nested.append(target)
    includes = data.get("include")
    for item in includes if isinstance(includes, list) else [includes] if includes else []:
        for path in _file_list(item):
            target = path_rule(_("{prefix}include", prefix=prefix), path, "file")
            if target is not None:
                nested.append(target)
        if isinstance(item, dict):
            for path in _file_list(item.get("env_file")) if item.get("env_file") is not None else []:
                path_rule(_("{prefix}include", prefix=prefix), path, "env_file")
            if item.get("project_directory") is not None:
                # Compose then reads the included file's paths from that folder, not the file's own:
                # refused rather than resolved a second way (compose config runs sandboxed as well).
                problems.append(_("{prefix}include: project_directory is not allowed; leave it out, so the included "
                                  "file's paths are read from its own folder", prefix=prefix))
    for target in nested:
        if _depth >= MAX_INCLUDE_DEPTH:
            problems.append(_("{label}: extends/include nested more than {max_include_depth} levels deep", label=label,
                              max_include_depth=MAX_INCLUDE_DEPTH))
            break
        if target.is_file() and target.resolve() != compose_file.resolve():
            problems.extend(check_raw_compose(target, root, _depth + 1))
    return problems
