"""`embbert-mcu train`, `pretrain` and `eval`: thin commands over train, pretrain, evaluate."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import PRESETS
from ..errors import UsageError
from ..fileio import check_writable
from . import cli, emit_json, info
from .options import COUNT, LR, MAX_LEN, SEED, THREADS, number


# Room a checkpoint needs at least (the base preset's is about 1.5 MB; the resume state
# holds the optimizer's moments too).
CHECKPOINT_ROOM = 8 << 20


def label_map(labels: list[str]) -> str:
    """'neg -> 0, pos -> 1': the class index each label name is trained as."""
    return ", ".join(f"{name} -> {i}" for i, name in enumerate(labels))


def _threads(n: int) -> None:
    import torch

    # The machines this runs on are shared: one thread unless asked for more.
    torch.set_num_threads(max(1, n))


@cli.command()
@click.option("--data", "data_name", help="A built-in set (see `data list`) or hf:<name>.")
@click.option("--train", "train_file", type=click.Path(dir_okay=False),
              help="CSV/JSONL with text,label (and text_pair for sentence pairs).")
@click.option("--test", "test_file", type=click.Path(dir_okay=False),
              help="CSV/JSONL with text,label (and text_pair for sentence pairs).")
@click.option("--init", type=click.Path(dir_okay=False), help="A pretrain checkpoint to start from.")
@click.option("--preset", "preset_name", type=click.Choice(list(PRESETS)), default="base", show_default=True)
@click.option("--epochs", type=COUNT, default=10, show_default=True)
@click.option("--max-len", type=MAX_LEN, help="Override l, the position table size.")
@click.option("--windows", type=number(int, 1, 64), default=1, show_default=True, metavar="W",
              help="Read a text longer than l as up to W windows of l tokens and average their "
                   "logits, in training, in the export and on the device; 1 reads the first l.")
@click.option("--window-stride", type=number(int, 0, 4095), default=0, metavar="S",
              help="With --windows: tokens between window starts (below l; default l - 1, "
                   "windows that do not overlap).")
@click.option("--batch-size", type=COUNT, default=32, show_default=True)
@click.option("--lr", type=LR, default=1e-3, show_default=True, help="Peak learning rate.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--distill", is_flag=True,
              help="Also learn from a word + character n-gram teacher on augmented copies "
                   "(with --teacher: from the mean of both teachers).")
@click.option("--teacher", type=click.Choice(["minilm"]),
              help="Learn from a fine-tuned transformer (all-MiniLM-L6-v2, needs the [teacher] "
                   "extra) on the texts and augmented copies; the teacher is not exported.")
@click.option("--teacher-epochs", type=number(int, 1, 100), default=1, show_default=True,
              help="With --teacher: fine-tuning epochs of the teacher.")
@click.option("--teacher-head-lr", type=LR, default=1e-3, show_default=True,
              help="With --teacher: learning rate of the teacher's fresh linear head "
                   "(its encoder: 3e-5).")
@click.option("--teacher-max-len", type=number(int, 8, 512), default=128, show_default=True,
              help="With --teacher: the teacher's token limit per text (per window).")
@click.option("--teacher-windows", type=number(int, 1, 64), default=1, show_default=True,
              metavar="W", help="With --teacher: read a text longer than --teacher-max-len as up "
                                "to W windows of it, in fine-tuning and scoring, and average their "
                                "logits (long texts, like --windows for the student).")
@click.option("--teacher-seed", type=SEED, metavar="N",
              help="With --distill/--teacher: seed of the teachers (MiniLM's fine-tuning, its "
                   "copies and unlabelled draw; the n-gram teacher's folds; the validation slice "
                   "cut from --train) [default: --seed]. Fixed, runs that vary --seed alone "
                   "reuse the cached teacher.")
@click.option("--teacher-copies", type=number(int, 0, 64), default=2, show_default=True,
              help="With --teacher: perturbed copies of each training text the teacher scores once "
                   "(each epoch uses --augment of them).")
@click.option("--teacher-replace", type=number(float, 0.0, 0.9), default=0.0, show_default=True,
              help="With --teacher: chance that a word of a copy is replaced by a word drawn "
                   "from the training text.")
@click.option("--teacher-unlabelled", type=number(int, 0, 10**7), default=0, show_default=True,
              metavar="N", help="With --teacher: N unlabelled sentences that the teacher labels too, "
                                "in every epoch (from --teacher-text, or the built-in English text).")
@click.option("--teacher-text", type=click.Path(dir_okay=False),
              help="With --teacher: your own unlabelled in-domain text, one text per line, as the "
                   "source of --teacher-unlabelled (all of its sentences if that is 0).")
@click.option("--teacher-unlabelled-rest", "unlabelled_rest", is_flag=True,
              help="With --teacher and --train-limit: the training texts the limit leaves out, "
                   "their labels dropped, are the unlabelled text the teacher labels.")
@click.option("--temperature", type=number(float, 0.01, 100.0), default=1.0, show_default=True,
              help="With --teacher: softens the teacher's logits into the student's targets.")
@click.option("--soft-loss", type=click.Choice(["ce", "mse"]), default="ce", show_default=True,
              help="With --distill/--teacher: match the teacher's probabilities (cross-entropy) "
                   "or its logits (squared error of the centred logits).")
@click.option("--augment", type=number(int, 0, 64),
              help="With --distill/--teacher: perturbed copies of each training text per epoch [default: 2].")
@click.option("--alpha", type=number(float, 0.0, 1.0),
              help="With --distill/--teacher: weight of the gold label on the original texts [default: 0.5].")
@click.option("--ema", type=number(float, 0.0, 1000.0), default=0.0, show_default=True, metavar="EPOCHS",
              help="Validate and keep a moving average of the weights over about EPOCHS epochs; "
                   "0 keeps each epoch's last weights.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="cpu",
              show_default=True, help="Where the student and the teacher train (float16 autocast on CUDA).")
@click.option("--train-limit", type=number(int, 2, 10**9), metavar="N",
              help="Train on a seeded stratified subset of N training texts (validation and test "
                   "unchanged; the floor is fitted on the same subset).")
@click.option("--test-limit", type=number(int, 2, 10**9), metavar="N",
              help="Test on a seeded stratified subset of N test texts (large sets on a slow machine).")
@click.option("--threads", type=THREADS, default=1, show_default=True, help="Torch CPU threads.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Checkpoint to write.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def train(data_name, train_file, test_file, init, preset_name, epochs, max_len, windows,
          window_stride, batch_size, lr,
          seed, distill, teacher, teacher_epochs, teacher_head_lr, teacher_max_len, teacher_windows,
          teacher_seed, teacher_copies,
          teacher_replace, teacher_unlabelled, teacher_text, unlabelled_rest, temperature, soft_loss, augment, alpha, ema, device, train_limit, test_limit, threads,
          output, as_json):
    """Fine-tune a classifier and report test accuracy beside the TF-IDF floor."""
    from ..checkpoint import load_checkpoint, save_checkpoint
    from ..datasets import load_dataset, load_files
    from ..tokenizer import EmbTokenizer
    from ..training.train import TrainOptions, train_classifier

    _threads(threads)
    check_writable(output, "checkpoint", min_free_bytes=CHECKPOINT_ROOM)
    if bool(data_name) == bool(train_file or test_file):
        raise UsageError("give either --data NAME or --train FILE --test FILE")
    if not data_name and not (train_file and test_file):
        raise UsageError("--train and --test go together")
    if not (distill or teacher) and (augment is not None or alpha is not None):
        raise UsageError("--augment and --alpha only apply with --distill or --teacher")
    if not (distill or teacher) and soft_loss != "ce":
        raise UsageError("--soft-loss only applies with --distill or --teacher",
                         hint="add --teacher minilm or --distill")
    if not teacher and (teacher_unlabelled or teacher_text):
        raise UsageError("--teacher-unlabelled and --teacher-text only apply with --teacher",
                         hint="add --teacher minilm")
    if not (distill or teacher) and teacher_seed is not None:
        raise UsageError("--teacher-seed only applies with --distill or --teacher",
                         hint="add --teacher minilm or --distill")
    if not teacher and teacher_windows != 1:
        raise UsageError("--teacher-windows only applies with --teacher", hint="add --teacher minilm")
    if unlabelled_rest and not (teacher and train_limit is not None):
        raise UsageError("--teacher-unlabelled-rest needs --teacher and --train-limit")
    if unlabelled_rest and teacher_text:
        raise UsageError("--teacher-unlabelled-rest and --teacher-text are alternatives")
    if teacher_text and not Path(teacher_text).is_file():
        raise UsageError(f"--teacher-text {teacher_text}: no such file")
    opts = TrainOptions(preset=preset_name, epochs=epochs, max_len=max_len, windows=windows,
                        window_stride=window_stride, batch_size=batch_size,
                        lr=lr, seed=seed, distill=distill, ema=ema, teacher=teacher,
                        teacher_epochs=teacher_epochs, teacher_head_lr=teacher_head_lr,
                        teacher_max_len=teacher_max_len, teacher_windows=teacher_windows,
                        teacher_seed=teacher_seed,
                        teacher_copies=teacher_copies, teacher_replace=teacher_replace,
                        teacher_unlabelled=teacher_unlabelled, teacher_text=teacher_text,
                        temperature=temperature, soft_loss=soft_loss, device=device,
                        **{k: v for k, v in (("augment", augment), ("alpha", alpha)) if v is not None})
    # a --train file's validation slice follows the teachers' seed: the teacher's data stays put
    ds = load_dataset(data_name) if data_name else load_files(train_file, test_file,
                                                              seed=opts.teachers_seed)
    for limit, name in ((train_limit, "--train-limit"), (test_limit, "--test-limit")):
        if limit is not None and limit < 2:
            raise UsageError(f"{name} must be at least 2, got {limit}")
    rest = None
    if train_limit is not None:
        from ..datasets.splits import limit_train

        full = ds
        ds = limit_train(ds, train_limit, seed=0)
        if unlabelled_rest:
            kept = set(ds.train.texts)
            rest = [t for t in full.train.texts if t not in kept]
            info(f"--teacher-unlabelled-rest: {len(rest)} training texts without their labels")
    if test_limit is not None:
        from ..datasets.splits import limit_test

        ds = limit_test(ds, test_limit, seed=0)
    init_ckpt = load_checkpoint(init) if init else None
    if init_ckpt:
        info(f"architecture and tokenizer from {init} (--preset is not used)")
    tokenizer = (EmbTokenizer.from_json(init_ckpt.tokenizer_json) if init_ckpt
                 else EmbTokenizer.default())
    info(f"{ds.name}: {len(ds.labels)} labels, train {len(ds.train)}, val {len(ds.val)}, "
         f"test {len(ds.test)}" + (" (text pairs)" if ds.is_pair else ""))
    info("labels: " + label_map(ds.labels))
    ckpt = train_classifier(ds, tokenizer, opts, init=init_ckpt, unlabelled=rest)
    if rest is not None:
        ckpt.metrics["teacher_unlabelled_source"] = "the training texts --train-limit left out"
    if train_file:  # quantize finds the data again from any working directory
        ckpt.metrics.update(train_file=str(Path(train_file).resolve()),
                            test_file=str(Path(test_file).resolve()))
    from ..training.accel import processes  # imports torch: only once training ran
    if not processes().main:  # under torchrun rank 0 alone writes and reports
        return
    save_checkpoint(ckpt, output)
    m = ckpt.metrics
    doc = {k: m[k] for k in ("accuracy", "n", "correct", "macro_f1", "floor_accuracy",
                             "val_accuracy", "best_epoch", "train_seconds")}
    doc.update(checkpoint=str(output), dataset=ds.name, labels=list(ds.labels))
    if distill or teacher:
        doc["teacher_accuracy"] = m["teacher_accuracy"]
    if teacher:
        doc.update(teacher=m["teacher"], teacher_cache=m["teacher_cache"])
    if teacher and distill:  # both teachers: each alone, and their mean when it is known
        doc.update({k: m[k] for k in ("ngram_teacher_accuracy", "teachers_mean_accuracy") if k in m})
    if as_json:
        emit_json(doc)
        return
    info(f"test accuracy {m['accuracy']:.4f} (n={m['n']}) | TF-IDF + logistic regression floor "
         f"{m['floor_accuracy']:.4f}"
         + (f" | n-gram teacher {m['teacher_accuracy']:.4f}" if distill and not teacher else "")
         + (f" | n-gram teacher {m['ngram_teacher_accuracy']:.4f}" if distill and teacher else "")
         + (f" | {m['teacher']} teacher {m['teacher_accuracy']:.4f}" if teacher else "")
         + f" | best epoch {m['best_epoch']} | wrote {output}")


@cli.command("eval")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.option("--test", "test_file", type=click.Path(dir_okay=False), help="CSV/JSONL with text,label.")
@click.option("--batch-size", type=COUNT, default=64, show_default=True)
@click.option("--threads", type=THREADS, default=1, show_default=True, help="Torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def eval_(checkpoint, test_file, batch_size, threads, as_json):
    """Accuracy of the PyTorch model (the checkpoint's own test split unless --test)."""
    from ..checkpoint import load_checkpoint
    from ..datasets import encode_labels, read_rows
    from ..training.evaluate import evaluate
    from ..tokenizer import EmbTokenizer

    _threads(threads)
    ckpt = load_checkpoint(checkpoint)
    if ckpt.kind != "classifier":
        raise UsageError(f"{checkpoint} is a {ckpt.kind} checkpoint", hint="eval needs a classifier")
    if test_file:
        texts, pairs, names = read_rows(test_file)
        labels, source = encode_labels(names, ckpt.labels, test_file), str(test_file)
    elif ckpt.test_split:
        texts, labels = ckpt.test_split["texts"], ckpt.test_split["labels"]
        pairs = ckpt.test_split.get("pairs")
        source = f"stored test split of {ckpt.test_split['name']}"
    else:
        raise UsageError(f"{checkpoint} stores no test split", hint="pass --test FILE")
    tokenizer = EmbTokenizer.from_json(ckpt.tokenizer_json)
    result = evaluate(ckpt.model(), tokenizer, texts, labels, batch_size=batch_size, pairs=pairs)
    result.update(source=source, checkpoint=str(checkpoint), labels=list(ckpt.labels))
    if as_json:
        emit_json(result)
        return
    info("labels: " + label_map(ckpt.labels))
    info(f"accuracy {result['accuracy']:.4f} ({result['correct']}/{result['n']}) on the {source}")


@cli.command()
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Pretrain checkpoint to write (resume state goes to <output>.resume).")
@click.option("--preset", "preset_name", type=click.Choice(list(PRESETS)), default="base", show_default=True)
@click.option("--max-len", type=MAX_LEN, help="Override l, the position table size.")
@click.option("--steps", type=COUNT, default=10000, show_default=True,
              help="Optimizer steps (10,000 took 42 min on one shared core).")
@click.option("--batch-size", type=COUNT, default=32, show_default=True)
@click.option("--seq-len", type=MAX_LEN, default=64, show_default=True,
              help="Typical example length (10% of batches use the full max_len).")
@click.option("--lr", type=LR, default=1e-3, show_default=True, help="Peak learning rate.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--save-every", type=COUNT, default=250, show_default=True, help="Steps between saves.")
@click.option("--resume", is_flag=True, help="Continue from <output>.resume if it exists.")
@click.option("--stop-at", type=COUNT, help="End this run after that step (continue with --resume).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="cpu",
              show_default=True, help="Where to train (float16 autocast on CUDA).")
@click.option("--corpus", type=click.Path(dir_okay=False),
              help="Your own UTF-8 text instead of the built-in corpus: one segment per line, "
                   "documents separated by blank lines.")
@click.option("--dropout", type=number(float, 0.0, 0.9), help="Attention dropout [default: the preset's, 0.1].")
@click.option("--teacher", type=click.Choice(["minilm"]),
              help="Instead of MLM+NSP: the backbone learns all-MiniLM-L6-v2's sentence embeddings "
                   "(needs the [teacher] extra); -o is then a backbone checkpoint.")
@click.option("--sentences", type=number(int, 1, 10**8), default=100_000, show_default=True,
              help="With --teacher: sentences of the unlabelled text (or --corpus) it learns on.")
@click.option("--init", type=click.Path(dir_okay=False),
              help="With --teacher: start from this pretrain or backbone checkpoint.")
@click.option("--backbone", "backbone_out", type=click.Path(dir_okay=False),
              help="Also write the backbone alone (what `train --init` needs, without the MLM "
                   "head) to this file when the run ends.")
@click.option("--threads", type=THREADS, default=1, show_default=True, help="Torch CPU threads.")
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON document on stdout.")
def pretrain(output, preset_name, max_len, steps, batch_size, seq_len, lr, seed, save_every,
             resume, stop_at, device, corpus, dropout, teacher, sentences, init, backbone_out,
             threads, as_json):
    """MLM + NSP pretraining on the unlabelled text (every evaluation set excluded), or with
    --teacher the backbone learns a sentence encoder's embeddings of it."""
    from ..datasets.corpus import evaluation_texts, load_corpus
    from ..training.pretrain import (PretrainOptions, read_corpus_file, run_pretraining,
                                     tokenize_documents)
    from ..tokenizer import EmbTokenizer

    _threads(threads)
    if teacher:
        return _pretrain_from_teacher(output, preset_name, max_len, steps, batch_size, lr, seed,
                                      corpus, dropout, sentences, init, device, as_json,
                                      refused={"--resume": resume, "--stop-at": stop_at,
                                               "--backbone": backbone_out})
    if init:
        raise UsageError("--init applies with --teacher only",
                         hint="MLM+NSP pretraining starts from the preset; resume with --resume")
    check_writable(output, "checkpoint", min_free_bytes=CHECKPOINT_ROOM)
    check_writable(f"{output}.resume", "resume state", min_free_bytes=CHECKPOINT_ROOM)
    if backbone_out:
        if Path(backbone_out).resolve() in (Path(output).resolve(), Path(f"{output}.resume").resolve()):
            raise UsageError("--backbone must name another file than -o and its .resume state")
        check_writable(backbone_out, "backbone", min_free_bytes=CHECKPOINT_ROOM)
    tokenizer = EmbTokenizer.default()
    if corpus:
        docs = tokenize_documents(read_corpus_file(corpus), tokenizer)
    else:
        info("reading the pretraining text (fetched once into the cache) ...")
        docs = tokenize_documents(load_corpus(evaluation_texts()), tokenizer)
    info(f"{len(docs)} documents, {sum(len(s) for d in docs for s in d):,} tokens")
    opts = PretrainOptions(preset=preset_name, max_len=max_len, steps=steps, batch_size=batch_size,
                           seq_len=seq_len, lr=lr, seed=seed, save_every=save_every,
                           dropout=dropout)
    ckpt = run_pretraining(docs, tokenizer, opts, output, resume=resume, stop_at=stop_at,
                           device=device)
    from ..training.accel import processes
    if not processes().main:
        return
    last = ckpt.metrics["last"]
    doc = {"checkpoint": str(output), "step": ckpt.metrics["step"], **last}
    if backbone_out:
        from ..checkpoint import save_checkpoint
        from ..training.pretrain import backbone_checkpoint

        save_checkpoint(backbone_checkpoint(ckpt), backbone_out)
        doc["backbone"] = str(backbone_out)
    if as_json:
        emit_json(doc)
        return
    info(f"step {doc['step']}: mlm loss {last.get('mlm', float('nan')):.3f}, "
         f"nsp loss {last.get('nsp', float('nan')):.3f}, nsp accuracy {last.get('nsp_acc', 0):.3f}; "
         f"wrote {output}")


def _pretrain_from_teacher(output, preset_name, max_len, steps, batch_size, lr, seed, corpus,
                           dropout, sentences, init, device, as_json, refused):
    """`pretrain --teacher minilm` (training/embdistill.py)."""
    from ..checkpoint import load_checkpoint, save_checkpoint
    from ..datasets.corpus import evaluation_texts, load_corpus
    from ..training.embdistill import WORDS, EmbedDistillOptions, distill_backbone
    from ..training.pretrain import read_corpus_file
    from ..training.teacher import require_transformers
    from ..training.transfer import unlabelled_sentences
    from ..tokenizer import EmbTokenizer

    given = [name for name, value in refused.items() if value]
    if given:
        raise UsageError(f"{given[0]} does not apply with --teacher",
                         hint="the teacher's embeddings are cached: a second run costs only the "
                              "student's steps")
    require_transformers()
    check_writable(output, "checkpoint", min_free_bytes=CHECKPOINT_ROOM)
    init_ckpt = load_checkpoint(init) if init else None
    tokenizer = (EmbTokenizer.from_json(init_ckpt.tokenizer_json) if init_ckpt
                 else EmbTokenizer.default())
    if corpus:
        source = [seg for doc in read_corpus_file(corpus) for seg in doc]
    else:
        info("reading the pretraining text (fetched once into the cache) ...")
        source = [seg for doc in load_corpus(evaluation_texts()) for seg in doc]
    texts = unlabelled_sentences(sentences, [], seed, source=source, words=WORDS)
    info(f"{len(texts):,} sentences of {WORDS[0]} to {WORDS[1]} words")
    opts = EmbedDistillOptions(preset=preset_name, max_len=max_len, sentences=sentences,
                               steps=steps, batch_size=batch_size, lr=lr, seed=seed,
                               dropout=dropout)
    ckpt = distill_backbone(texts, tokenizer, opts, init=init_ckpt, device=device)
    save_checkpoint(ckpt, output)
    last = ckpt.metrics["last"]
    doc = {"checkpoint": str(output), "kind": "backbone", "step": ckpt.metrics["step"],
           "sentences": len(texts), **last}
    if as_json:
        emit_json(doc)
        return
    info(f"step {doc['step']}: cosine loss {last['cosine_loss']:.4f} on {len(texts):,} sentences; "
         f"wrote {output}")
