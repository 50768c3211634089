"""Texts to classify from a file: CSV or JSONL with a ``text`` column (``label`` optional),
or plain text, one text per line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import DataError


def read_texts(path: str | Path) -> tuple[list[str], list[str] | None]:
    """(texts, labels or None). CSV/JSONL need a ``text`` column; other files are one text
    per line (a final newline does not make an extra empty text)."""
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
    return [line[:-1] if line.endswith("\r") else line for line in lines], None


def _columns(path: Path, records: list[dict], what: str) -> tuple[list[str], list[str] | None]:
    if not records:
        raise DataError(f"{path} has no rows", hint="it needs a text column and rows")
    if any("text" not in r or r["text"] is None for r in records):
        raise DataError(f"{path}: the {what} lack a text column", hint="name the column text")
    texts = [str(r["text"]) for r in records]
    if all("label" in r and r["label"] not in (None, "") for r in records):
        return texts, [str(r["label"]).strip() for r in records]
    return texts, None
