"""`embbert-mcu predict`: labels and probabilities for texts (embbert_mcu.predict)."""

from __future__ import annotations

import click

from ..errors import UsageError
from . import cli, emit_json, info


@cli.command()
@click.argument("model", type=click.Path())
@click.argument("texts", nargs=-1)
@click.option("--input", "input_file", type=click.Path(dir_okay=False),
              help="CSV/JSONL with a text column (and text_pair for sentence pairs), or a text "
                   "file with one text per line.")
@click.option("--engine", type=click.Choice(["torch", "c"]), default="torch", show_default=True,
              help="PyTorch (needs the checkpoint) or the exported C built for this host.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def predict(model, texts, input_file, engine, as_json):
    """Classify TEXTs (and/or --input) with MODEL: a checkpoint or an export directory."""
    import torch

    from ..predict import load

    torch.set_num_threads(1)
    items, pairs = list(texts), None
    if input_file:
        from ..datasets.texts import read_items

        more, pairs, _ = read_items(input_file)
        if pairs is not None and items:
            raise UsageError("TEXT arguments are single texts and --input holds pairs",
                             hint="put every pair in the --input file")
        items += more
    if not items:
        raise UsageError("no texts to classify", hint="pass TEXT arguments or --input FILE")
    predictions = load(model, engine=engine).predict(items, pairs)
    if as_json:
        emit_json({"predictions": [p.to_dict() for p in predictions]})
        return
    for p in predictions:
        click.echo(f"{p.label}\t{p.probabilities[p.label]:.4f}")
    info(f"{len(predictions)} texts, engine {engine}")
