"""Finding submissions in a folder, hashing them; zips are unpacked by graders.uploads."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from graders.policy import MAX_TREE_BYTES
from graders.uploads import unpack_zip

SKIP_DIRS = {".git", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache", ".pytest_cache"}


@dataclass(frozen=True)
class Submission:
    name: str
    path: Path  # a folder, or a .zip file

    @property
    def is_zip(self) -> bool:
        return self.path.suffix.lower() == ".zip"


def find_submissions(root: Path) -> list[Submission]:
    """Every subfolder and every .zip directly in `root`, sorted by name; a folder and a zip
    of the same name are one submission (the folder wins)."""
    found: dict[str, Submission] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and not entry.is_symlink():
            found[entry.name] = Submission(entry.name, entry)
        elif entry.is_file() and entry.suffix.lower() == ".zip":
            found.setdefault(entry.stem, Submission(entry.stem, entry))
    return [found[name] for name in sorted(found)]


def _file_digest(path: Path, digest) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(2**20):
            digest.update(chunk)


def content_hash(submission: Submission) -> str:
    """A hash of the files (paths and bytes); unchanged submissions are not regraded. Read in
    chunks, and not read at all past the size the policy refuses (then sizes and times stand in,
    found by `stat`): a 2 GiB sparse file costs nothing here."""
    digest = hashlib.sha256()
    if submission.is_zip:
        _file_digest(submission.path, digest)
        return digest.hexdigest()[:16]
    files: list[tuple[str, Path, os.stat_result | None]] = []
    for dirpath, dirnames, filenames in os.walk(submission.path):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath, name)
            info = path.lstat()
            regular = stat.S_ISREG(info.st_mode)
            files.append((str(path.relative_to(submission.path)), path, info if regular else None))
    too_big = sum(info.st_size for _, _, info in files if info) > MAX_TREE_BYTES
    for rel, path, info in files:
        if info is None:
            digest.update(f"link:{rel}".encode())
        elif too_big:
            digest.update(f"{rel}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
        else:
            digest.update(rel.encode() + b"\0")
            _file_digest(path, digest)
    return digest.hexdigest()[:16]


def materialise(submission: Submission, scratch: Path) -> Path:
    """The folder to grade: the submission itself, or its zip unpacked into `scratch`."""
    if not submission.is_zip:
        return submission.path
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    return unpack_zip(submission.path, scratch)
