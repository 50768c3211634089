"""User data: CSV or JSONL files with a ``text`` and a ``label`` column, and for sentence-pair
tasks a ``text_pair`` column (the second text of each pair, never empty)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import DataError
from .splits import Dataset, Split, stratified_indices

FIELD_LIMIT = 1 << 24  # bytes per CSV field (16 MiB)
csv.field_size_limit(FIELD_LIMIT)


Row = tuple[str, str | None, str]  # (text, text_pair or None, label name)


def read_table(path: str | Path) -> tuple[list[str], list[str]]:
    """(texts, label names) from a .csv or .jsonl file of single texts (``.json`` lines also
    accepted); a file with a ``text_pair`` column is refused rather than read half."""
    texts, pairs, names = read_rows(path)
    if pairs is not None:
        raise DataError(f"{path} holds text pairs (a text_pair column) where single texts "
                        "are expected", hint="use a file with a text and a label column")
    return texts, names


def read_rows(path: str | Path) -> tuple[list[str], list[str] | None, list[str]]:
    """(texts, second texts or None, label names) from a .csv or .jsonl file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no data file at {path}", hint="check the path")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text", hint="save it as UTF-8") from None
    if not content.strip():
        raise DataError(f"{path} is empty", hint="it needs a header and rows with text,label")
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        rows = _jsonl_rows(path, content)
    else:
        rows = _csv_rows(path, content)
    if not rows:
        raise DataError(f"{path} has a header but no rows")
    paired = [b is not None for _, b, _ in rows]
    if any(paired) and not all(paired):
        line = paired.index(False) + 1 if paired[0] else paired.index(True) + 1
        raise DataError(f"{path}: row {line} of {len(rows)} differs from the first in having "
                        "a text_pair", hint="give every row a text_pair, or none")
    pairs = [b for _, b, _ in rows] if paired[0] else None
    return [t for t, _, _ in rows], pairs, [y for _, _, y in rows]


def _csv_rows(path: Path, content: str) -> list[Row]:
    reader = csv.DictReader(content.splitlines(keepends=True))
    _check_columns(path, reader.fieldnames or [])
    paired = "text_pair" in (reader.fieldnames or [])
    rows = []
    try:
        for line_no, row in enumerate(reader, start=2):
            rows.append(_row(path, line_no, row.get("text"), row.get("label"),
                             row.get("text_pair"), paired))
    except csv.Error as exc:  # a field over FIELD_LIMIT, a NUL byte, an unclosed quote ...
        raise DataError(f"{path}: row {reader.line_num + 1}: {exc}",
                        hint=f"fields are limited to {FIELD_LIMIT >> 20} MiB; check the "
                             "quoting of that row") from None
    return rows


def _jsonl_rows(path: Path, content: str) -> list[Row]:
    rows = []
    for line_no, line in enumerate(content.split("\n"), start=1):  # not splitlines: U+2028 in text
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{line_no}: not JSON ({exc.msg})",
                            hint="one JSON object per line") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{line_no}: expected a JSON object")
        _check_columns(path, list(obj), line_no)
        rows.append(_row(path, line_no, obj["text"], obj["label"], obj.get("text_pair"),
                         "text_pair" in obj))
    return rows


def _check_columns(path: Path, columns: list[str], line_no: int | None = None) -> None:
    missing = [c for c in ("text", "label") if c not in columns]
    if missing:
        where = f"{path}:{line_no}" if line_no else str(path)
        raise DataError(
            f"{where}: missing column(s) {', '.join(missing)} (found: {', '.join(map(str, columns)) or 'none'})",
            hint="the file needs a `text` and a `label` column",
        )


def _row(path: Path, line_no: int, text, label, pair=None, paired: bool = False) -> Row:
    if text is None or label is None or str(label).strip() == "":
        raise DataError(f"{path}:{line_no}: empty text or label")
    if paired and (pair is None or not str(pair).strip()):
        raise DataError(f"{path}:{line_no}: empty text_pair",
                        hint="every row of a pair file needs its second text")
    return str(text), (str(pair) if paired else None), str(label).strip()


def load_files(train: str | Path, test: str | Path, val_fraction: float = 0.1,
               seed: int = 0) -> Dataset:
    """Train and test files; a seeded stratified validation slice is cut from train."""
    train_texts, train_pairs, train_names = read_rows(train)
    test_texts, test_pairs, test_names = read_rows(test)
    if (train_pairs is None) != (test_pairs is None):
        raise DataError(f"one of {train} and {test} holds text pairs (text_pair) and the other "
                        "does not", hint="give both files a text_pair column, or neither")
    labels = sorted(set(train_names))
    index = {n: i for i, n in enumerate(labels)}
    unknown = sorted(set(test_names) - set(labels))
    if unknown:
        raise DataError(
            f"{test} has label(s) never seen in {train}: {', '.join(unknown[:5])}",
            hint="every test label must occur in the training file",
        )
    if len(labels) < 2:
        raise DataError(f"{train} has a single label {labels[0]!r}", hint="a classifier needs two or more")
    y = [index[n] for n in train_names]
    val_idx, train_idx = stratified_indices(y, (val_fraction,), seed)
    whole = Split(train_texts, y, train_pairs)
    test_split = Split(test_texts, [index[n] for n in test_names], test_pairs)
    return Dataset(Path(test).name, labels, whole.take(train_idx), whole.take(val_idx), test_split)


def encode_labels(names: list[str], labels: list[str], source: str) -> list[int]:
    """Label names -> indices of ``labels``; DataError naming the first unknown one."""
    index = {n: i for i, n in enumerate(labels)}
    unknown = sorted(set(names) - set(index))
    if unknown:
        raise DataError(
            f"{source} has label(s) the model does not know: {', '.join(unknown[:5])}",
            hint=f"the model's labels are: {', '.join(labels)}",
        )
    return [index[n] for n in names]
