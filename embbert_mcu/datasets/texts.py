"""Texts to classify from a file: CSV or JSONL with a ``text`` column (``text_pair`` for
sentence pairs and ``label`` optional), or plain text, one text per line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import DataError


def read_texts(path: str | Path) -> tuple[list[str], list[str] | None]:
    """(texts, labels or None) of single texts; a file of pairs is refused."""
    texts, pairs, labels = read_items(path)
    if pairs is not None:
        raise DataError(f"{path} holds text pairs (a text_pair column)",
                        hint="this model or command takes single texts")
    return texts, labels


def read_items(path: str | Path) -> tuple[list[str], list[str] | None, list[str] | None]:
    """(texts, second texts or None, labels or None). CSV/JSONL need a ``text`` column; other
    files are one text per line (a final newline does not make an extra empty text)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no file at {path}", hint="check the path")
    try:
        content = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text", hint="save it as UTF-8") from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = list(csv.DictReader(io.StringIO(content)))
        return _columns(path, records, "CSV header")
    if suffix in (".jsonl", ".json"):
        records = []
        for line_no, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise DataError(f"{path}:{line_no}: not JSON ({exc})",
                                hint="one JSON object per line") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{line_no}: expected a JSON object with a text field")
            records.append(obj)
        return _columns(path, records, "JSON objects")
    # "\n" ends a line (a "\r" before it is dropped), as examples/classify/main.c reads them;
    # other Unicode line separators stay inside the text
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines], None, None


def _columns(path: Path, records: list[dict], what: str):
    if not records:
        raise DataError(f"{path} has no rows", hint="it needs a text column and rows")
    if any("text" not in r or r["text"] is None for r in records):
        raise DataError(f"{path}: the {what} lack a text column", hint="name the column text")
    texts = [str(r["text"]) for r in records]
    pairs = _pairs(path, records)
    if all("label" in r and r["label"] not in (None, "") for r in records):
        return texts, pairs, [str(r["label"]).strip() for r in records]
    return texts, pairs, None


def _pairs(path: Path, records: list[dict]) -> list[str] | None:
    """The ``text_pair`` column, or None if no record has one; an empty cell is an error."""
    if not any("text_pair" in r for r in records):
        return None
    for row, r in enumerate(records, 1):
        if r.get("text_pair") is None or not str(r["text_pair"]).strip():
            raise DataError(f"{path}: row {row} has an empty text_pair",
                            hint="every row of a pair file needs its second text")
    return [str(r["text_pair"]) for r in records]
