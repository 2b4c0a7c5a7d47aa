"""Everything a student reads exists in Russian: every message of the catalogue, with the same
`{fields}` as its English source, and every title, hint and contract line of the lab's spec."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from graders.i18n import LOCALES, _, n_, use_language
from graders.spec.loader import load_spec

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "n_": (1, 2), "N_": None}


def extracted() -> dict[str, str | tuple[str, ...]]:
    found = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "graders"), method_map=[("**.py", "python")], keywords=KEYWORDS):
        found[message if isinstance(message, str) else message[0]] = message
    return found


def catalogue():
    with (LOCALES / "ru" / "LC_MESSAGES" / "graders.po").open("rb") as source:
        return read_po(source, locale="ru")


def fields(text: str) -> set[str]:
    return set(re.findall(r"(?<!\{)\{(\w+)[^{}]*\}", text))


def test_every_message_a_student_can_read_has_a_russian_translation():
    ru = catalogue()
    missing = [key for key in extracted() if not (entry := ru.get(key)) or not entry.string
               or (isinstance(entry.string, tuple) and not all(entry.string)) or entry.fuzzy]
    assert not missing, "no Russian translation (add it to graders/locale/ru/LC_MESSAGES/graders.po): " + \
        "; ".join(missing[:10])


def test_a_translation_keeps_every_field_of_its_source():
    ru = catalogue()
    wrong = []
    for key, message in extracted().items():
        entry = ru.get(key)
        if entry is None or not entry.string:
            continue
        sources = message if isinstance(message, tuple) else (message,)
        targets = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        wanted = set().union(*(fields(s) for s in sources))
        wrong += [f"{key!r} -> {t!r}" for t in targets if fields(t) != wanted and fields(t) - wanted]
    assert not wrong, wrong[:5]


def test_messages_come_out_in_the_gradings_language():
    with use_language("ru"):
        assert _("the stack is not running") == "стек не запущен"
        assert n_("{count} point", "{count} points", 3) == "3 балла"
        assert n_("{count} point", "{count} points", 11) == "11 баллов"
    with use_language("en"):
        assert _("the stack is not running") == "the stack is not running"
    assert _("the stack is not running") == "the stack is not running"  # English outside a grading


@pytest.mark.parametrize("spec", ["specs/lab4.yaml"])
def test_the_lab_spec_speaks_russian_and_english(spec):
    loaded = load_spec(ROOT / spec)
    gaps = [f"{p.id}: title" for p in loaded.parts if set(p.titles) < {"ru", "en"}]
    for check in loaded.checks():
        texts = {"title": check.titles, "hint": check.hint}
        if check.points and not check.advice:
            texts["contract"] = check.contract
        gaps += [f"{check.qualified_id}: {name}" for name, value in texts.items() if not {"ru", "en"} <= set(value)]
    assert not gaps, gaps
