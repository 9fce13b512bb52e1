"""Knowledge-base entries: the FAQ data model, validation, JSON and CSV import/export.

An entry is one question the bot can answer: its canonical ``question``, paraphrased
``variants`` the editor has seen visitors type, the ``answer`` shown to the visitor,
search ``keywords`` (synonyms, product words, and aliases in the other language so
that an English question can find a Chinese-only answer), a ``category`` that the
dialogue maps to a skill group on handoff, a ``locale`` and optional ``related`` ids
offered as quick-reply buttons.

Contract: every loader returns validated entries or raises :class:`KnowledgeBaseError`
whose message names the bad row (``row 3`` for CSV data rows, ``entry 3`` for JSON
list items, both 1-based) and the field. ``entries_to_* -> entries_from_*`` round-trips
exactly.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CSV_COLUMNS",
    "LOCALES",
    "FaqEntry",
    "KnowledgeBaseError",
    "entries_from_csv",
    "entries_from_json",
    "entries_to_csv",
    "entries_to_json",
    "entry_from_dict",
    "entry_to_dict",
    "load_entries",
    "validate_entries",
]

LOCALES = ("zh-CN", "en")
CSV_COLUMNS = ("id", "question", "variants", "answer", "keywords", "category", "locale", "related")
# Lists are stored in one CSV cell; '|' never occurs in a question or keyword in practice.
LIST_SEPARATOR = "|"
_MAX_ID = 64
_MAX_TEXT = 4000


class KnowledgeBaseError(ValueError):
    """Invalid knowledge-base data; the message names the row and the field."""


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One FAQ entry. Immutable; build a new one to edit."""

    id: str
    question: str
    answer: str
    category: str
    variants: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    locale: str = "zh-CN"
    related: tuple[str, ...] = ()

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The question followed by its variants: every way the entry is asked."""
        return (self.question, *self.variants)

    def problems(self) -> list[str]:
        """Return what is wrong with this entry on its own (empty when valid)."""
        found: list[str] = []
        if not self.id or not self.id.strip():
            found.append("id is empty")
        elif len(self.id) > _MAX_ID or any(ch.isspace() for ch in self.id):
            found.append(f"id {self.id!r} must be at most {_MAX_ID} characters without spaces")
        for name in ("question", "answer", "category"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                found.append(f"{name} is empty")
            elif len(value) > _MAX_TEXT:
                found.append(f"{name} is longer than {_MAX_TEXT} characters")
        if self.locale not in LOCALES:
            found.append(f"locale {self.locale!r} is not one of {', '.join(LOCALES)}")
        for name in ("variants", "keywords", "related"):
            items = getattr(self, name)
            if not isinstance(items, tuple) or not all(isinstance(i, str) for i in items):
                found.append(f"{name} must be a tuple of strings")
            elif any(not i.strip() for i in items):
                found.append(f"{name} contains an empty item")
            elif any(LIST_SEPARATOR in i for i in items):
                found.append(f"{name} item contains {LIST_SEPARATOR!r}")
        if self.id in self.related:
            found.append("related lists the entry itself")
        return found


def _as_tuple(value: Any, field: str, where: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        # A bare string in JSON is accepted as the CSV-style joined form.
        return tuple(part.strip() for part in value.split(LIST_SEPARATOR) if part.strip())
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return tuple(v.strip() for v in value)
    raise KnowledgeBaseError(f"{where}: {field} must be a list of strings")


def entry_from_dict(raw: Mapping[str, Any], *, where: str = "entry") -> FaqEntry:
    """Build and validate one entry from a mapping; ``where`` prefixes error messages."""
    if not isinstance(raw, Mapping):
        raise KnowledgeBaseError(f"{where}: expected an object, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(CSV_COLUMNS))
    if unknown:
        raise KnowledgeBaseError(f"{where}: unknown field(s) {', '.join(unknown)}")
    for name in ("id", "question", "answer", "category", "locale"):
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise KnowledgeBaseError(f"{where}: {name} must be a string")
    entry = FaqEntry(
        id=(raw.get("id") or "").strip(),
        question=(raw.get("question") or "").strip(),
        answer=(raw.get("answer") or "").strip(),
        category=(raw.get("category") or "").strip(),
        variants=_as_tuple(raw.get("variants"), "variants", where),
        keywords=_as_tuple(raw.get("keywords"), "keywords", where),
        locale=(raw.get("locale") or "zh-CN").strip(),
        related=_as_tuple(raw.get("related"), "related", where),
    )
    problems = entry.problems()
    if problems:
        label = f"{where} (id {entry.id!r})" if entry.id else where
        raise KnowledgeBaseError(f"{label}: {'; '.join(problems)}")
    return entry


def entry_to_dict(entry: FaqEntry) -> dict[str, Any]:
    """The JSON shape of an entry (lists for the tuple fields)."""
    return {
        "id": entry.id,
        "question": entry.question,
        "variants": list(entry.variants),
        "answer": entry.answer,
        "keywords": list(entry.keywords),
        "category": entry.category,
        "locale": entry.locale,
        "related": list(entry.related),
    }


def validate_entries(entries: Iterable[FaqEntry], labels: Sequence[str] | None = None) -> None:
    """Check the collection: unique ids and ``related`` ids that exist.

    ``labels[i]`` names entry ``i`` in errors (defaults to ``entry i+1``).
    """
    items = list(entries)
    names = list(labels) if labels is not None else [f"entry {i + 1}" for i in range(len(items))]
    first_seen: dict[str, str] = {}
    for entry, label in zip(items, names, strict=True):
        if entry.id in first_seen:
            raise KnowledgeBaseError(f"{label}: duplicate id {entry.id!r} (first at {first_seen[entry.id]})")
        first_seen[entry.id] = label
    for entry, label in zip(items, names, strict=True):
        missing = [r for r in entry.related if r not in first_seen]
        if missing:
            raise KnowledgeBaseError(f"{label} (id {entry.id!r}): unknown related id(s) {', '.join(missing)}")


def entries_from_json(text: str | bytes) -> list[FaqEntry]:
    """Parse a JSON list of entries, or an object with an ``entries`` list."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KnowledgeBaseError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if isinstance(data, Mapping):
        data = data.get("entries")
    if not isinstance(data, list):
        raise KnowledgeBaseError("expected a JSON list of entries or an object with an 'entries' list")
    labels = [f"entry {i + 1}" for i in range(len(data))]
    entries = [entry_from_dict(raw, where=label) for raw, label in zip(data, labels, strict=True)]
    validate_entries(entries, labels)
    return entries


def entries_to_json(entries: Iterable[FaqEntry]) -> str:
    """Serialise entries as ``{"entries": [...]}`` (UTF-8 text, not ASCII-escaped)."""
    payload = {"entries": [entry_to_dict(e) for e in entries]}
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def entries_from_csv(text: str) -> list[FaqEntry]:
    """Parse CSV with a header row of :data:`CSV_COLUMNS` (``variants``, ``keywords`` and
    ``related`` joined with ``|``; ``variants``, ``keywords``, ``locale``, ``related`` optional).

    Row numbers in errors count data rows from 1, excluding the header.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = reader.fieldnames or []
    required = {"id", "question", "answer", "category"}
    if not required <= set(header):
        raise KnowledgeBaseError(f"CSV header must contain {', '.join(sorted(required))}; got {header}")
    entries: list[FaqEntry] = []
    labels: list[str] = []
    for number, row in enumerate(reader, start=1):
        label = f"row {number}"
        if None in row:
            raise KnowledgeBaseError(f"{label}: more cells than header columns")
        cells = {k: v for k, v in row.items() if v is not None}
        entries.append(entry_from_dict(cells, where=label))
        labels.append(label)
    validate_entries(entries, labels)
    return entries


def entries_to_csv(entries: Iterable[FaqEntry]) -> str:
    """Serialise entries as CSV with a header row; lists joined with ``|``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        writer.writerow([
            e.id,
            e.question,
            LIST_SEPARATOR.join(e.variants),
            e.answer,
            LIST_SEPARATOR.join(e.keywords),
            e.category,
            e.locale,
            LIST_SEPARATOR.join(e.related),
        ])
    return out.getvalue()


def load_entries(path: str | Path) -> list[FaqEntry]:
    """Load entries from a ``.json`` or ``.csv`` file (chosen by suffix)."""
    file = Path(path)
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() == ".csv":
        return entries_from_csv(text)
    return entries_from_json(text)
