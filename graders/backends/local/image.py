"""An "image" without Docker: the files a Dockerfile's COPY/ADD would put in it, and its config.

`build_image` walks every stage of the Dockerfile (dockerfile-parse, via graders.dockerfile)
and lays the final stage's files out under a folder that stands for the container's `/`:
WORKDIR /app becomes ROOT/app, `COPY . .` copies the build context there (minus .dockerignore,
.git, __pycache__, .venv, node_modules), `COPY --from=<stage>` copies from an earlier stage's
folder. ENV, WORKDIR, CMD, ENTRYPOINT and USER are kept; RUN lines are not run, except that
their `pip install` arguments (requirements files inlined, packages) become the requirements
of the service's virtual environment, and `mkdir` creates folders.
"""

from __future__ import annotations

import glob
import json
import os
import posixpath
import re
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from graders.dockerfile import Instruction, parse_dockerfile
from graders.i18n import _

ALWAYS_SKIPPED = {".git", "__pycache__", ".venv", "node_modules"}
MAX_IMAGE_BYTES = 300 * 1024 * 1024
_PIP_VALUE_OPTIONS = {"-c", "--constraint", "-i", "--index-url", "--extra-index-url", "-f", "--find-links",
                      "-t", "--target", "--prefix", "--root", "--src", "--trusted-host", "--platform",
                      "--python-version", "--implementation", "--abi", "--progress-bar", "--cache-dir", "--log",
                      "--timeout", "--retries"}


class ImageError(Exception):
    """The Dockerfile cannot be laid out locally (too big, unreadable)."""


@dataclass
class Image:
    root: Path  # stands for the container's /
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    base: str = ""
    user: str = ""
    requirements: list[str] = field(default_factory=list)  # lines of one requirements file
    notes: list[str] = field(default_factory=list)
    cmd_inherited: bool = False

    def path(self, container_path: str) -> Path:
        """A container path (absolute, or relative to WORKDIR) -> where it is under root."""
        full = posixpath.normpath(posixpath.join(self.workdir, container_path))
        return self.root / full.lstrip("/")


class DockerIgnore:
    """.dockerignore patterns as Docker reads them: the last matching pattern wins, `!`
    re-includes, `**` spans folders, and a pattern matching a folder excludes what is in it."""

    def __init__(self, lines: list[str]):
        self.patterns: list[tuple[re.Pattern, bool]] = []
        for raw in lines:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            line = posixpath.normpath(line.lstrip("!").strip()).lstrip("/")
            if line in (".", ""):
                continue
            self.patterns.append((re.compile(_glob_regex(line)), negate))

    @classmethod
    def for_context(cls, context: Path, dockerfile: Path) -> DockerIgnore:
        for candidate in (dockerfile.with_name(dockerfile.name + ".dockerignore"), context / ".dockerignore"):
            if candidate.is_file():
                return cls(candidate.read_text(encoding="utf-8", errors="replace").splitlines())
        return cls([])

    def excluded(self, relative: str) -> bool:
        parts = relative.split("/")
        if ALWAYS_SKIPPED & set(parts):
            return True
        prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
        result = False
        for pattern, negate in self.patterns:
            if any(pattern.fullmatch(p) for p in prefixes):
                result = not negate
        return result

    @property
    def has_exceptions(self) -> bool:
        return any(negate for _unused, negate in self.patterns)


def _glob_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif c == "*":
            out, i = out + "[^/]*", i + 1
        elif c == "?":
            out, i = out + "[^/]", i + 1
        elif c == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out, i = out + "[" + ("^" + body[1:] if body.startswith("^") else body) + "]", end + 1
        else:
            out, i = out + re.escape(c), i + 1
    return out


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Dockerfile `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`."""
    def one(m: re.Match) -> str:
        if m.group(1):
            return variables.get(m.group(1), "")
        name, op, arg = m.group(2), m.group(3), m.group(4) or ""
        value = variables.get(name, "")
        if op == ":-":
            return value or arg
        if op == ":+":
            return arg if value else ""
        return value
    return re.sub(r"\$(?:([A-Za-z_]\w*)|\{([A-Za-z_]\w*)(?:(:[-+])([^}]*))?\})", one, text)


def parse_env(value: str) -> dict[str, str]:
    """ENV K=V K2="v 2"  or the old ENV K some value."""
    text = value.strip()
    first = text.split(None, 1)[0] if text else ""
    if "=" not in first:
        key, _unused, rest = text.partition(" ")
        return {key: rest.strip()} if key else {}
    try:
        pairs = shlex.split(text)
    except ValueError:
        pairs = text.split()
    return dict(p.split("=", 1) for p in pairs if "=" in p)


def command_words(instruction: Instruction) -> list[str]:
    form = instruction.exec_form
    return form if form is not None else ["/bin/sh", "-c", instruction.value.strip()]


class _Builder:
    def __init__(self, context: Path, dockerfile: Path, dest: Path, build_args: Mapping[str, str]):
        self.context = context.resolve()
        self.dockerfile = dockerfile
        self.dest = dest
        self.build_args = dict(build_args)
        self.ignore = DockerIgnore.for_context(self.context, dockerfile)
        self.stages: list[Image] = []
        self.aliases: dict[str, Image] = {}
        self.requirements: list[str] = []
        self.notes: list[str] = []
        self.copied = 0

    def build(self) -> Image:
        instructions = parse_dockerfile(self.dockerfile).instructions
        global_args: dict[str, str] = {}
        image: Image | None = None
        variables: dict[str, str] = {}
        for ins in instructions:
            if ins.name == "FROM":
                image, variables = self._from(ins, global_args)
                continue
            if ins.name == "ARG":
                name, _unused, default = ins.value.strip().partition("=")
                target = global_args if image is None else variables
                target[name.strip()] = self.build_args.get(name.strip(), global_args.get(name.strip(), default))
                continue
            if image is None:
                continue
            value = substitute(ins.value, {**variables, **image.env}) if ins.name not in ("CMD", "ENTRYPOINT",
                                                                                        "RUN") else ins.value
            if ins.name == "ENV":
                image.env.update(parse_env(value))
            elif ins.name == "WORKDIR":
                image.workdir = posixpath.normpath(posixpath.join(image.workdir, value.strip()))
                image.path(".").mkdir(parents=True, exist_ok=True)
            elif ins.name in ("COPY", "ADD"):
                self._copy(image, ins, value)
            elif ins.name == "RUN":
                self._run(image, substitute(ins.value, {**variables, **image.env}))
            elif ins.name == "CMD":
                image.cmd, image.cmd_inherited = command_words(ins), False
            elif ins.name == "ENTRYPOINT":
                image.entrypoint = command_words(ins)
                if image.cmd_inherited:
                    image.cmd = None
            elif ins.name == "USER":
                image.user = value.strip()
        if image is None:
            raise ImageError(f"{self.dockerfile.name} has no FROM")
        image.requirements = list(dict.fromkeys(self.requirements))
        image.notes = list(dict.fromkeys(self.notes))
        return image

    def _from(self, ins: Instruction, global_args: dict[str, str]) -> tuple[Image, dict[str, str]]:
        words = [w for w in substitute(ins.value, global_args).split() if not w.startswith("--")]
        base = words[0] if words else ""
        root = self.dest / f"stage{len(self.stages)}"
        parent = self.aliases.get(base.lower())
        if parent is not None:
            shutil.copytree(parent.root, root, symlinks=True)
            image = Image(root, parent.workdir, dict(parent.env), parent.entrypoint, parent.cmd, parent.base,
                          parent.user, cmd_inherited=True)
        else:
            root.mkdir(parents=True)
            image = Image(root, base=base)
        self.stages.append(image)
        self.aliases[str(len(self.stages) - 1)] = image
        if len(words) >= 3 and words[1].lower() == "as":
            self.aliases[words[2].lower()] = image
        return image, dict(global_args)

    def _copy(self, image: Image, ins: Instruction, value: str) -> None:
        flags = {}
        text = value.strip()
        while text.startswith("--"):
            flag, _unused, text = text.partition(" ")
            key, _unused, val = flag[2:].partition("=")
            flags[key] = val
            text = text.strip()
        if text.startswith("<<"):
            self.notes.append(_("line {line}: {name} with a here-document is not reproduced locally", line=ins.line,
                                name=ins.name))
            return
        try:
            parts = json.loads(text) if text.startswith("[") else shlex.split(text)
        except ValueError:
            parts = text.split()
        if len(parts) < 2:
            return
        sources, dest = [str(p) for p in parts[:-1]], str(parts[-1])
        source_root, honour_ignore = self.context, True
        if "from" in flags:
            stage = self.aliases.get(flags["from"].lower())
            if stage is None:
                self.notes.append(_("line {line}: COPY --from={stage} (another image) is not reproduced locally",
                                    line=ins.line, stage=flags['from']))
                return
            source_root, honour_ignore = stage.root, False
        target = posixpath.normpath(posixpath.join(image.workdir, dest))
        into_dir = dest.endswith("/") or dest in (".", "./") or len(sources) > 1 or any(
            c in s for s in sources for c in "*?[")
        for source in sources:
            if re.match(r"^[a-z]+://", source):
                self.notes.append(_("line {line}: ADD from a URL is not reproduced locally", line=ins.line))
                continue
            if "from" in flags:
                pattern = str(source_root / posixpath.normpath("/" + source).lstrip("/"))
            else:
                rel = posixpath.normpath(source)
                if rel.startswith(".."):
                    self.notes.append(_("line {line}: {source} is outside the build context", line=ins.line,
                                        source=source))
                    continue
                pattern = str(source_root / rel) if rel != "." else str(source_root)
            matches = sorted(glob.glob(pattern)) if any(c in source for c in "*?[") else [pattern]
            for match in map(Path, matches):
                if not match.exists() and not match.is_symlink():
                    self.notes.append(_("line {line}: {source} does not exist in the build context", line=ins.line,
                                        source=source))
                    continue
                relative = match.relative_to(source_root).as_posix() if match != source_root else ""
                if honour_ignore and relative and self.ignore.excluded(relative):
                    continue
                if match.is_dir() and not match.is_symlink():
                    self._copy_dir(match, image.root / target.lstrip("/"), source_root if honour_ignore else None)
                else:
                    out = image.root / target.lstrip("/")
                    if into_dir or out.is_dir():
                        out = out / match.name
                    self._copy_file(match, out)

    def _copy_dir(self, src: Path, dst: Path, ignore_root: Path | None) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        for folder, dirs, files in os.walk(src):
            here = Path(folder)
            rel_dir = here.relative_to(ignore_root).as_posix() if ignore_root else ""
            rel_dir = "" if rel_dir == "." else rel_dir

            def skip(name: str, rel_dir: str = rel_dir) -> bool:
                return ignore_root is not None and self.ignore.excluded(f"{rel_dir}/{name}".lstrip("/"))
            dirs[:] = [d for d in dirs if d not in ALWAYS_SKIPPED and (self.ignore.has_exceptions or not skip(d))]
            out_dir = dst / here.relative_to(src)
            out_dir.mkdir(parents=True, exist_ok=True)
            for name in dirs:
                if (here / name).is_symlink():
                    self._copy_file(here / name, out_dir / name)
            for name in files:
                if not skip(name):
                    self._copy_file(here / name, out_dir / name)

    def _copy_file(self, src: Path, dst: Path) -> None:
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.is_file():
            dst.unlink()
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
            return
        self.copied += src.stat().st_size
        if self.copied > MAX_IMAGE_BYTES:
            raise ImageError(f"the image files exceed {MAX_IMAGE_BYTES // 2**20} MB")
        shutil.copy2(src, dst)

    def _run(self, image: Image, command: str) -> None:
        for segment in re.split(r"&&|\|\||;|\|", command):
            try:
                words = shlex.split(segment)
            except ValueError:
                continue
            if words and words[0] == "mkdir":
                for folder in (w for w in words[1:] if not w.startswith("-")):
                    image.path(folder).mkdir(parents=True, exist_ok=True)
            if "install" in words and any(_is_pip(w, words[n + 1] if n + 1 < len(words) else "")
                                          for n, w in enumerate(words[:words.index("install")])):
                self._pip_args(image, words[words.index("install") + 1:])

    def _pip_args(self, image: Image, args: list[str]) -> None:
        i = 0
        while i < len(args):
            word = args[i]
            if word in ("-r", "--requirement") and i + 1 < len(args):
                self._requirements_file(image, args[i + 1])
                i += 2
                continue
            if word.startswith("--requirement=") or (word.startswith("-r") and len(word) > 2):
                self._requirements_file(image, word.split("=", 1)[1] if "=" in word else word[2:])
            elif word in _PIP_VALUE_OPTIONS:
                i += 1
            elif word in ("-e", "--editable") or word.startswith((".", "/")) or word.startswith("--editable="):
                self.notes.append(_("`pip install {word}` (a local package) is not installed locally", word=word))
                i += 1 if word in ("-e", "--editable") else 0
            elif not word.startswith("-") and word.split("==")[0].lower() not in ("pip", "setuptools", "wheel"):
                self.requirements.append(word)
            i += 1

    def _requirements_file(self, image: Image, path: str, depth: int = 0) -> None:
        candidates = [image.path(path), self.context / posixpath.normpath(path).lstrip("/")]
        if os.path.isabs(path) and Path(path).resolve().is_relative_to(self.context):
            candidates.insert(0, Path(path))
        local = next((c for c in candidates if c.is_file()), None)
        if local is None or depth > 5:
            self.notes.append(_("the requirements file {path} named by `pip install -r` was not found", path=path))
            return
        for line in local.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("-r ", "--requirement")):
                nested = line.split(None, 1)[1] if " " in line else line.split("=", 1)[1]
                self._requirements_file(image, posixpath.join(posixpath.dirname(path), nested.strip()), depth + 1)
            elif line.startswith(("-c", "--constraint", "-e", "--editable", ".", "/")):
                self.notes.append(_("{path}: `{line}` is not used locally", path=path, line=line))
            else:
                self.requirements.append(line)


def _is_pip(word: str, following: str) -> bool:
    base = os.path.basename(word)
    return bool(re.fullmatch(r"pip(3(\.\d+)?)?", base)) or (word == "-m" and following == "pip") or (
        base == "uv" and following == "pip")


def build_image(context: Path, dockerfile: Path, dest: Path, build_args: Mapping[str, str] | None = None) -> Image:
    """Lay out the final stage's files under dest/stageN; the returned Image says where."""
    if not dockerfile.is_file():
        raise ImageError(f"no Dockerfile at {dockerfile}")
    builder = _Builder(context, dockerfile, dest, build_args or {})
    image = builder.build()
    if not image.requirements and (context / "requirements.txt").is_file():
        builder._requirements_file(image, str((context / "requirements.txt").resolve()))
        image.requirements = list(dict.fromkeys(builder.requirements))
        image.notes.append("the Dockerfile runs no `pip install`: installed the build context's requirements.txt")
    return image
