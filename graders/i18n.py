"""What a student reads, in their language: a gettext message catalogue (Babel reads and
extracts it), the language chosen per grading.

Messages are written in English at the call site, `_("Redis has no key {key}", key=name)`,
and looked up in `graders/locale/<lang>/LC_MESSAGES/graders.po` for the grading's language (a
context variable: each grading, thread or asyncio task sees its own). `pybabel extract`
(babel.cfg) finds every `_()`; tests/unit/test_i18n.py fails when one has no translation.
The .po files are read directly (no compiled .mo in the repository).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import gettext
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCALES = Path(__file__).resolve().parent / "locale"
DOMAIN = "graders"
LANGUAGES = ("ru", "en")
DEFAULT = "ru"

_language: contextvars.ContextVar[str] = contextvars.ContextVar("grading_language", default="en")


@functools.cache
def catalogue(lang: str) -> gettext.NullTranslations:
    """The language's translations (English is the source: none needed)."""
    po = LOCALES / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == "en" or not po.is_file():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as source:
        parsed = read_po(source, locale=lang)
    compiled = io.BytesIO()
    write_mo(compiled, parsed, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def language() -> str:
    return _language.get()


@contextlib.contextmanager
def use_language(lang: str) -> Iterator[None]:
    token = _language.set(lang if lang in LANGUAGES else "en")
    try:
        yield
    finally:
        _language.reset(token)


def _(message: str, /, **values: Any) -> str:
    """`message` in the current language, its `{name}` fields filled from `values`."""
    text = catalogue(language()).gettext(message)
    return text.format(**values) if values else text


def n_(singular: str, plural: str, count: int, /, **values: Any) -> str:
    """The form for `count` (Russian has three); `{count}` is filled too."""
    text = catalogue(language()).ngettext(singular, plural, count)
    return text.format(count=count, **values)


def N_(message: str) -> str:
    """Marks a message for extraction where it is translated later (a table of messages)."""
    return message
