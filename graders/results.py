"""Typed results: what a check, a part and a whole grading produced. Reports read only these."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field

# What one grading keeps of any text a submission controls (a check's message and evidence, a
# problem): a stack that answers with megabytes must not make a report of megabytes.
MESSAGE_CAP = 2_000
DETAILS_CAP = 8_000
PROBLEM_CAP = 8_000
# Problems (`step: message`) that make a grading no score at all: this machine could not grade
# it (a requirement its wheelhouse lacks, with no network), which is not the student's doing.
UNGRADABLE_STEPS = ("offline",)


def bounded(text: str, cap: int) -> str:
    """`text` cut to `cap` characters, saying so; `text` itself when it fits."""
    if len(text) <= cap:
        return text
    note = f" … [{len(text) - cap + 60} more characters cut]"
    return text[:cap - 60] + note


class Status(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the check could not run to a verdict (stack down, grader fault)
    SKIPPED = "skipped"  # a precondition failed, or the part was not selected


@dataclass
class Attachment:
    """A file a check produced for the report, e.g. a screenshot. It stays in memory until the
    command line saves it beside the report (`path` is then set); reports link to `path`."""

    name: str  # what it shows, e.g. "tab 1"
    media_type: str  # e.g. "image/png"
    data: bytes = field(default=b"", repr=False)
    path: str = ""  # where it was saved; "" while unsaved

    @property
    def extension(self) -> str:
        return {"image/png": ".png", "image/jpeg": ".jpg", "text/plain": ".txt"}.get(self.media_type, ".bin")


@dataclass(frozen=True)
class Outcome:
    """What a check module returns: a verdict and the one line that explains it."""

    passed: bool
    message: str
    details: str = ""  # longer evidence for instructors: body excerpts, log tails
    cause: str = ""  # the kind of failure (graders.checks._causes), which picks the hint
    attachments: tuple[Attachment, ...] = ()
    file: str = ""  # the submission's file the verdict points at (relative), and its line (0: none)
    line: int = 0

    @classmethod
    def ok(cls, message: str, details: str = "", *, attachments: tuple[Attachment, ...] = ()) -> Outcome:
        return cls(True, message, details, attachments=tuple(attachments))

    @classmethod
    def fail(cls, message: str, details: str = "", *, cause: str = "",
             attachments: tuple[Attachment, ...] = ()) -> Outcome:
        return cls(False, message, details, cause=cause, attachments=tuple(attachments))


@dataclass
class CheckResult:
    id: str
    title: str
    status: Status
    score: float
    max_score: float
    message: str
    hint: str = ""
    details: str = ""
    duration_s: float = 0.0
    visibility: str = "visible"
    check_type: str = ""
    # False: left out of this grading and of its maximum (a capability it requires is missing
    # here, or the check it stands in for ran instead)
    graded: bool = True
    attachments: list[Attachment] = field(default_factory=list)
    contract: str = ""  # the assignment's line this check enforces
    advice: bool = False  # good practice, reported but never scored
    file: str = ""  # the submission's file the verdict points at (relative; "" none), and its line (0: none)
    line: int = 0

    @property
    def advice_unmet(self) -> bool:
        return self.advice and self.status is not Status.PASSED

    @property
    def graded_status(self) -> Status:
        """What a platform shows: advice is never a failure there (it costs nothing)."""
        return Status.PASSED if self.advice else self.status


@dataclass
class PartResult:
    id: str
    title: str
    bonus: bool
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(c.score for c in self.checks), 2)

    @property
    def max_score(self) -> float:
        return round(sum(c.max_score for c in self.checks), 2)


@dataclass
class Timings:
    build_s: float = 0.0
    up_s: float = 0.0
    checks_s: float = 0.0
    teardown_s: float = 0.0
    total_s: float = 0.0


@dataclass
class GradingReport:
    submission: str
    spec: str
    grader_version: str
    backend: str
    run_id: str = ""  # labels everything this grading created (`runner.py clean --run ID`)
    partial: bool = False  # checks the backend cannot run were left out of max_score
    parts: list[PartResult] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    # What went wrong before or around the checks (build failed, service exited): the
    # student reads this first.
    problems: list[str] = field(default_factory=list)
    service_logs: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    lint: list[str] = field(default_factory=list)  # hadolint's findings on the Dockerfile: hints, not scored

    @property
    def score(self) -> float:
        return round(sum(p.score for p in self.parts if not p.bonus), 2)

    @property
    def max_score(self) -> float:
        return round(sum(p.max_score for p in self.parts if not p.bonus), 2)

    @property
    def bonus_score(self) -> float:
        return round(sum(p.score for p in self.parts if p.bonus), 2)

    @property
    def total(self) -> float:
        """What a platform records: the score plus the bonus (which may pass the maximum)."""
        return round(self.score + self.bonus_score, 2)

    @property
    def gradable(self) -> bool:
        return not any(p.split(":", 1)[0].strip() in UNGRADABLE_STEPS for p in self.problems)

    def all_checks(self):
        for part in self.parts:
            for check in part.checks:
                yield part, check

    def to_dict(self) -> dict:
        return {
            "score": self.score,
            "max_score": self.max_score,
            "bonus_score": self.bonus_score,
            "total": self.total,
            "gradable": self.gradable,
            "parts": [
                {
                    "id": p.id,
                    "title": p.title,
                    "bonus": p.bonus,
                    "score": p.score,
                    "max_score": p.max_score,
                    "checks": [
                        {
                            "id": c.id,
                            "title": c.title,
                            "status": c.status.value,
                            "score": c.score,
                            "max_score": c.max_score,
                            "message": c.message,
                            "hint": c.hint,
                            "duration_s": round(c.duration_s, 3),
                            "visibility": c.visibility,
                            "contract": c.contract,
                            "advice": c.advice,
                            "graded": c.graded,
                            "attachments": [{"name": a.name, "media_type": a.media_type, "path": a.path}
                                            for a in c.attachments],
                        }
                        for c in p.checks
                    ],
                }
                for p in self.parts
            ],
            "timings": {k: round(v, 3) for k, v in asdict(self.timings).items()},
            "problems": list(self.problems),
            "notes": list(self.notes),
            "lint": list(self.lint),
            "submission": self.submission,
            "spec": self.spec,
            "backend": self.backend,
            "run_id": self.run_id,
            "partial": self.partial,
            "grader_version": self.grader_version,
        }
