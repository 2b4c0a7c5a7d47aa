"""What a student uploaded, made into the project folder to grade: one implementation for every
platform (`runner.py grade UPLOAD`, Gradescope's /autograder/submission, PrairieLearn's
/grade/student, a batch's zips).

An upload is a project folder, or a folder holding one zip of it (PrairieLearn's
`submission.zip`), or the zip itself. A zip may hold the project at its root or inside one top
folder. Archive debris (`__MACOSX/`, `.DS_Store`, a stray `.git/` beside the project folder) is
not a folder of the project: it neither hides the single top folder nor counts as one.
"""

from __future__ import annotations

import contextlib
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from graders.backends.stack_files import COMPOSE_FILES
from graders.i18n import _

MAX_ZIP_BYTES = 200 * 1024 * 1024  # unpacked
MAX_ZIP_FILES = 20_000
DEBRIS = {"__MACOSX", ".DS_Store", ".git", "Thumbs.db", "desktop.ini"}
PROJECT_MARKERS = ("Dockerfile", *COMPOSE_FILES)
MAX_DEPTH = 4  # folders inside folders an upload may wrap its project in


class SubmissionError(Exception):
    """A submission that cannot even be unpacked or read: its row (or the report) says why."""


def unpack_zip(archive: Path, target: Path) -> Path:
    """Unpack with limits (size, count, no path escapes, no links) and without `__MACOSX/`;
    return the project folder found inside (see `project_folder`)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > MAX_ZIP_FILES:
                raise SubmissionError(_("{zip}: {count} files, more than {most}", zip=archive.name, count=len(members),
                                        most=MAX_ZIP_FILES))
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise SubmissionError(_("{zip}: unpacks to more than {mib} MiB", zip=archive.name,
                                        mib=MAX_ZIP_BYTES >> 20))
            root = target.resolve()
            for member in members:
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise SubmissionError(_("{zip}: {file} is a symbolic link", zip=archive.name, file=member.filename))
                destination = (root / member.filename).resolve()
                if not destination.is_relative_to(root):
                    raise SubmissionError(_("{zip}: {file} points outside the archive", zip=archive.name,
                                            file=member.filename))
            # macOS's resource forks are not the student's files: never unpacked, never graded.
            zf.extractall(root, [m for m in members if "__MACOSX" not in Path(m.filename).parts])
    except zipfile.BadZipFile as exc:
        raise SubmissionError(_("{zip}: not a valid zip ({error})", zip=archive.name, error=exc)) from None
    return project_folder(target)


def _is_project(folder: Path) -> bool:
    return any((folder / name).is_file() for name in PROJECT_MARKERS)


def _entries(folder: Path) -> list[Path]:
    return [e for e in folder.iterdir() if e.name not in DEBRIS and not e.name.startswith("._")]


def project_folder(folder: Path) -> Path:
    """The project inside `folder`: `folder` itself when it has a Dockerfile or compose file, else
    the single folder it wraps (debris aside), looked into a few levels deep. Files beside that
    folder (a README) keep the wrapper only when a project is found below. When nothing looks
    like a project, the deepest wrapper, so the grading says what is missing there."""
    current = folder
    for _depth in range(MAX_DEPTH):
        if _is_project(current):
            return current
        entries = _entries(current)
        folders = [e for e in entries if e.is_dir() and not e.is_symlink()]
        if len(folders) != 1 or any(e.is_file() and e.suffix.lower() == ".zip" for e in entries):
            break
        if len(entries) > 1 and not _is_project(project_folder(folders[0])):
            break  # `app/` beside `start.sh` is part of this project, not a wrapper around one
        current = folders[0]
    return current


def _single_zip(folder: Path) -> Path | None:
    """The one zip a folder holds when that is all it holds (PrairieLearn's submission.zip)."""
    if _is_project(folder):
        return None
    entries = _entries(folder)
    zips = [e for e in entries if e.is_file() and e.suffix.lower() == ".zip"]
    return zips[0] if len(zips) == 1 and len(entries) == 1 else None


@contextlib.contextmanager
def opened_upload(upload: Path) -> Iterator[Path]:
    """The project folder of an upload (a folder or a zip), unpacked into a temporary folder when
    zipped; that folder is removed on exit. Raises SubmissionError for a bad zip, and
    FileNotFoundError / NotADirectoryError for a path that is neither."""
    if not upload.exists():
        raise FileNotFoundError(_("{path}: no such folder or zip", path=upload))
    archive = upload if upload.is_file() else _single_zip(upload)
    if archive is None:
        if not upload.is_dir():
            raise NotADirectoryError(_("{path}: neither a folder nor a .zip", path=upload))
        yield project_folder(upload)
        return
    if not zipfile.is_zipfile(archive):
        raise SubmissionError(_("{zip}: not a valid zip", zip=archive.name))
    scratch = Path(tempfile.mkdtemp(prefix="grader-upload-"))
    try:
        yield unpack_zip(archive, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
