"""The Python API: load a checkpoint or an export directory, classify texts.

    from embbert_mcu.predict import load
    clf = load("models/embbert-base-rt-polarity-q.pt")          # PyTorch
    clf = load("build/model", engine="c")                        # the exported C, on the host
    for p in clf.predict(["a gripping, funny film", "dull"]):
        print(p.label, p.probabilities)
    clf.predict(["the film was fun"], pairs=["i enjoyed it"])  # a sentence-pair model


``engine="torch"`` runs the checkpoint in PyTorch (a quantized checkpoint as the C computes
it: dequantized weights, rounded activations); it needs a checkpoint. ``engine="c"`` runs the
exported C built for this host, tokenizer included (a checkpoint is exported into a
temporary directory first). Sentence pairs (``pairs=``, the second texts) become
``[CLS] a [SEP] b [SEP]``; on the C engine the export's tokenizer.json encodes them in Python
(the C tokenizer takes one text) and the exported C model runs on those ids.
``embbert-mcu predict`` is this module on the command line.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .errors import UsageError

ENGINES = ("torch", "c")


@dataclass(frozen=True)
class Prediction:
    label: str
    index: int
    probabilities: dict[str, float]
    logits: list[float]

    def to_dict(self) -> dict:
        return {"label": self.label, "probabilities": self.probabilities}


def _softmax(row: Sequence[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


class Classifier:
    """Texts (or text pairs) -> labels and probabilities through one engine."""

    def __init__(self, labels: list[str], engine: str, logits_fn, pairs: bool = False):
        self.labels, self.engine, self._logits = labels, engine, logits_fn
        self.pairs = pairs  # the model classifies sentence pairs (it was trained on them)

    def logits(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> list[list[float]]:
        if pairs is not None and len(pairs) != len(texts):
            raise UsageError(f"{len(texts)} texts but {len(pairs)} second texts of pairs",
                             hint="give one pair text per text")
        if texts and self.pairs != (pairs is not None):  # its ids would mean nothing to it
            kind = "sentence pairs" if self.pairs else "single texts"
            raise UsageError(f"the model classifies {kind} but was given "
                             f"{'single texts' if self.pairs else 'text pairs'}",
                             hint="give --input a file with a text_pair column (Python: "
                                  "predict(texts, pairs=...))" if self.pairs else
                                  "give texts without a text_pair column")
        return self._logits(list(texts), None if pairs is None else list(pairs)) if texts else []

    def predict(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> list[Prediction]:
        """One prediction per text, or per pair (``texts[i]``, ``pairs[i]``)."""
        out = []
        for row in self.logits(texts, pairs):
            probs = _softmax(row)
            best = max(range(len(row)), key=row.__getitem__)  # first of equal maxima, as C
            out.append(Prediction(self.labels[best], best, dict(zip(self.labels, probs)),
                                  list(row)))
        return out


def load(path: str | Path, engine: str = "torch") -> Classifier:
    """A checkpoint file or an export directory, on ``engine`` ("torch" or "c")."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}", hint="use torch or c")
    path = Path(path)
    if path.is_dir():
        from .export.manifest import Manifest

        manifest = Manifest.load(path)  # a folder that is not an export fails here
        if engine == "torch":
            raise UsageError("the torch engine needs the checkpoint, not an export",
                             hint="pass the .pt file, or use --engine c")
        return _c_classifier(path, manifest)
    if not path.is_file():
        raise UsageError(f"no checkpoint or export at {path}", hint="check the path")
    if engine == "c":
        return _exported_classifier(path)
    return _torch_classifier(path)


def _torch_classifier(path: Path) -> Classifier:
    import torch

    from .checkpoint import load_checkpoint
    from .export.testset import checkpoint_tokenizer
    from .reading import text_cap
    from .training.evaluate import predict_logits

    ckpt = load_checkpoint(path)
    if ckpt.kind != "classifier":
        raise UsageError(f"{path} is a {ckpt.kind} checkpoint, not a classifier",
                         hint="fine-tune it with `embbert-mcu train`")
    if ckpt.quant:
        from .quant import simulated_model

        model = simulated_model(ckpt)
    else:
        model = ckpt.model()
    tok = checkpoint_tokenizer(ckpt)

    def logits(texts: list[str], pairs: list[str] | None) -> list[list[float]]:
        with torch.no_grad():
            ids = tok.encode_many(texts, max_len=text_cap(ckpt.config), pairs=pairs)
            return predict_logits(model, ids).tolist()

    pair_model = "pairs" in (ckpt.test_split or {}) or bool((ckpt.metrics or {}).get("pairs"))
    return Classifier([str(x) for x in ckpt.labels], "torch", logits, pair_model)


def _c_classifier(model_dir: Path, manifest=None) -> Classifier:
    from .export.host import HostModel
    from .export.tokhost import HostTokenizer
    from .reading import text_cap
    from .tokenizer import EmbTokenizer

    host = HostModel(model_dir)
    manifest = manifest or host.manifest
    tok = HostTokenizer(model_dir, manifest.prefix)

    def logits(texts: list[str], pairs: list[str] | None) -> list[list[float]]:
        if pairs is None:
            return host.run_many(tok.encode_many(texts, text_cap(manifest)))  # windows: run_many
        py_tok = EmbTokenizer.from_json((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
        return host.run_many(py_tok.encode_many(texts, manifest.max_len, pairs=pairs))

    from .export.testset import load_testset

    try:  # an export of a pair model stores its test pairs
        pair_model = "text_pair" in load_testset(model_dir, limit=1)[0]
    except UsageError:  # no test split: exported from a checkpoint without one
        pair_model = False
    return Classifier([str(x) for x in manifest.labels], "c", logits, pair_model)


def _exported_classifier(ckpt_path: Path) -> Classifier:
    from .export.exporter import export_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="embbert-predict-"))
    try:
        export_checkpoint(ckpt_path, tmp / "model", onnx=False,
                          command="embbert-mcu predict --engine c")
        clf = _c_classifier(tmp / "model")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    weakref.finalize(clf, shutil.rmtree, tmp, True)  # the executables live until then
    return clf
