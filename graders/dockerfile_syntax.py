"""Dockerfile text read the way BuildKit's frontend reads it, for the rules that must not be
fooled by spelling: the escape directive, line continuations (with comment and blank lines
inside them), instruction flags with quotes and backslashes (`RUN --network="host"`), `--mount`
values as CSV, ARG defaults in `FROM`. Pure functions, no Docker; the policy judges what they
find and the Docker backend rewrites with them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass

_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+]([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


@dataclass(frozen=True)
class Instruction:
    line: int  # 1-based line where it starts
    end_line: int  # 1-based line where it ends (continuations included)
    keyword: str  # upper-case: RUN, FROM, COPY...
    flags: tuple[str, ...]  # `--name=value` words, quotes and escapes removed
    rest: str  # what follows the flags

    def flag_values(self, name: str) -> list[str]:
        """Every value of `--name=value` (BuildKit flag names are lower-case and exact)."""
        return [f.split("=", 1)[1] if "=" in f else "" for f in self.flags if f.split("=", 1)[0] == f"--{name}"]


def directives(text: str) -> dict[str, str]:
    """The parser directives (`# escape=`, `# syntax=`, `# check=`): comment lines at the very
    top, before any blank line, instruction or other comment."""
    found: dict[str, str] = {}
    for raw in text.splitlines():
        match = _DIRECTIVE.match(raw.strip())
        if not match or match.group(1).lower() in found:
            break
        found[match.group(1).lower()] = match.group(2)
    return found


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: continuation lines joined as BuildKit joins them."""
    escape = directives(text).get("escape", "\\")
    escape = escape if escape in ("\\", "`") else "\\"
    found: list[Instruction] = []
    parts: list[str] = []
    start = 0
    lines = text.splitlines()
    heredocs: list[tuple[bool, str]] = []  # (<<- strips tabs, terminator) still to read
    for number, raw in enumerate(lines, start=1):
        stripped = raw.strip()
        if heredocs:  # a heredoc's body belongs to the instruction above
            strip_tabs, word = heredocs[0]
            if (raw.lstrip("\t") if strip_tabs else raw) == word:
                heredocs.pop(0)
            continue
        if parts and (not stripped or stripped.startswith("#")):
            continue  # blank and comment lines inside a continuation are dropped
        if not parts and (not stripped or stripped.startswith("#")):
            continue
        if not parts:
            start = number
        body = raw.rstrip()
        if body.endswith(escape):
            parts.append(body[:-1])
            if number < len(lines):
                continue
        else:
            parts.append(body)
        logical = "".join(parts).strip()  # BuildKit joins continuations as they are: `--net\` + `work=host`
        parts = []
        keyword, _, args = logical.partition(" ")
        flags, rest = extract_flags(args)
        found.append(Instruction(start, number, keyword.upper(), tuple(flags), rest))
        heredocs = [(m.group(1) == "-", m.group(3)) for m in _HEREDOC.finditer(rest)]
    return found


def extract_flags(args: str) -> tuple[list[str], str]:
    """`--flag` words at the start of an instruction's arguments, as BuildKit's
    extractBuilderFlags reads them: quotes removed, a backslash escapes the next character,
    `--` alone ends the flags. Returns the flags and the rest of the line."""
    words: list[str] = []
    pos = 0
    length = len(args)
    while True:
        while pos < length and args[pos].isspace():
            pos += 1
        if pos >= length or not args.startswith("--", pos):
            return words, args[pos:]
        word, quote, blank_ok = "", "", False
        while pos < length:
            ch = args[pos]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == "\\" and pos + 1 < length:
                    pos += 1
                    word += args[pos]
                elif ch != "\\":
                    word += ch
            elif ch.isspace():
                break
            elif ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == "\\":
                if pos + 1 < length:
                    pos += 1
                    word += args[pos]
            else:
                word += ch
            pos += 1
        if word == "--":
            return words, args[pos:].lstrip()
        if word or blank_ok:
            words.append(word)


def mount_options(value: str) -> dict[str, str]:
    """A `--mount` value (CSV of key=value) with lower-cased keys; `type` defaults to bind."""
    try:
        fields = next(csv.reader([value]), [])
    except csv.Error:
        fields = value.split(",")
    options: dict[str, str] = {}
    for field in fields:
        key, _, item = field.partition("=")
        options[key.strip().lower()] = item.strip()
    options.setdefault("type", "bind")
    options["type"] = options["type"].lower()
    return options


def expand(text: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """`$VAR` / `${VAR}` / `${VAR:-default}` with `values`; returns the text and the names that
    had no value (and no default)."""
    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in values and values[name] != "":
            return values[name]
        if match.group(2) is not None and "-" in match.group(0):
            return match.group(2)
        missing.append(name)
        return ""

    return _VARIABLE.sub(one, text), missing


def global_args(found: list[Instruction], build_args: dict[str, str] | None = None) -> dict[str, str]:
    """ARGs declared before the first FROM, with their defaults, overridden by the build's args."""
    values: dict[str, str] = {}
    for instruction in found:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            for item in instruction.rest.split():
                name, has_default, default = item.partition("=")
                values[name] = default.strip("\"'") if has_default else values.get(name, "")
    for name, value in (build_args or {}).items():
        if name in values and value is not None:
            values[name] = str(value)
    return values
