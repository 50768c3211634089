"""The byte-pair tokenizer: 8192 tokens, lowercase, accents stripped, whitespace pre-split.

Special ids are fixed by ``config``: [PAD]=0 [UNK]=1 [CLS]=2 [MASK]=3 [SEP]=4. A single text
becomes ``[CLS] text`` cut to ``max_len``; a pair ``[CLS] a [SEP] b [SEP]``, its two texts
cut longest-first (as BERT does) so the layout and both [SEP]s survive any ``max_len`` >= 3.
The default tokenizer ships in ``embbert_mcu/assets/tokenizer.json`` and every checkpoint
carries its own copy as JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

from .config import CLS_ID, MASK_ID, PAD_ID, SEP_ID, UNK_ID
from .errors import CheckpointError, UsageError
from .fileio import write_text

SPECIALS = {"[PAD]": PAD_ID, "[UNK]": UNK_ID, "[CLS]": CLS_ID, "[MASK]": MASK_ID, "[SEP]": SEP_ID}
DEFAULT_PATH = Path(__file__).parent / "assets" / "tokenizer.json"


class EmbTokenizer:
    """A thin wrapper over ``tokenizers.Tokenizer`` that fixes the layout and the specials."""

    def __init__(self, tok: Tokenizer):
        for token, wanted in SPECIALS.items():
            if tok.token_to_id(token) != wanted:
                raise CheckpointError(
                    f"tokenizer maps {token} to {tok.token_to_id(token)}, expected {wanted}",
                    hint="use a tokenizer trained by embbert-mcu",
                )
        self.tok = tok
        self.tok.no_truncation()
        self.tok.no_padding()

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def encode(self, text: str, pair: str | None = None, max_len: int | None = None) -> list[int]:
        """Token ids with [CLS] first (and [SEP]s for a pair), at most ``max_len`` of them."""
        if pair is not None:
            return join_pair(self.pieces(text), self.pieces(pair), max_len)
        return _truncate(self.tok.encode(text).ids, max_len)

    def pieces(self, text: str) -> list[int]:
        """Token ids of ``text`` alone, without [CLS] or [SEP] (for packing segments)."""
        return self.tok.encode(text, add_special_tokens=False).ids

    def pieces_many(self, texts: Iterable[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(list(texts), add_special_tokens=False)]

    def encode_many(self, texts: Iterable[str], max_len: int | None = None,
                    pairs: Iterable[str] | None = None) -> list[list[int]]:
        """Single texts (or, with ``pairs``, text pairs), encoded in parallel by the library."""
        if pairs is not None:
            texts, pairs = list(texts), list(pairs)
            if len(texts) != len(pairs):
                raise UsageError(f"{len(texts)} texts but {len(pairs)} second texts of pairs",
                                 hint="give one text_pair per text")
            return [join_pair(a, b, max_len)
                    for a, b in zip(self.pieces_many(texts), self.pieces_many(pairs))]
        return [_truncate(e.ids, max_len) for e in self.tok.encode_batch(list(texts))]

    def tokens(self, text: str) -> list[str]:
        return self.tok.encode(text).tokens

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids)

    def to_json(self) -> str:
        return self.tok.to_str()

    @classmethod
    def from_json(cls, text: str) -> "EmbTokenizer":
        try:
            return cls(Tokenizer.from_str(text))
        except Exception as exc:  # the library raises plain Exception on bad JSON
            raise CheckpointError(f"cannot read tokenizer JSON ({str(exc)[:120]})") from None

    @classmethod
    def default(cls) -> "EmbTokenizer":
        return cls.from_json(DEFAULT_PATH.read_text(encoding="utf-8"))

    def save(self, path: str | Path) -> None:
        write_text(path, self.to_json())


def _truncate(ids: list[int], max_len: int | None) -> list[int]:
    """Cut to ``max_len``; a cut pair keeps its final [SEP] so the layout stays well formed."""
    if max_len is None or len(ids) <= max_len:
        return ids
    cut = ids[:max_len]
    if ids[-1] == SEP_ID and SEP_ID in ids[1:-1]:
        cut[-1] = SEP_ID
    return cut


def join_pair(a: list[int], b: list[int], max_len: int | None) -> list[int]:
    """``[CLS] a [SEP] b [SEP]`` in at most ``max_len`` ids: while too long, the last token of
    the longer text goes (of ``b`` on a tie), so a short question keeps all its words."""
    if max_len is not None:
        if max_len < 3:
            raise UsageError(f"a text pair needs max_len >= 3 ([CLS] and two [SEP]), got {max_len}",
                             hint="pick a larger --max-len")
        budget = max_len - 3
        n_a, n_b = len(a), len(b)
        while n_a + n_b > budget:
            if n_a > n_b:
                n_a -= 1
            else:
                n_b -= 1
        a, b = a[:n_a], b[:n_b]
    return [CLS_ID, *a, SEP_ID, *b, SEP_ID]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8192) -> EmbTokenizer:
    """Train the byte-pair model on ``texts`` with the project's normalizer and specials."""
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.normalizer = normalizers.Sequence(
        [normalizers.NFD(), normalizers.Lowercase(), normalizers.StripAccents()]
    )
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = sorted(SPECIALS, key=SPECIALS.get)  # the trainer assigns ids in this order
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, min_frequency=2, show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", CLS_ID), ("[SEP]", SEP_ID)],
    )
    return EmbTokenizer(tok)
