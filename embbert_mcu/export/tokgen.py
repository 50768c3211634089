"""The C tokenizer's tables, computed from the checkpoint's Hugging Face tokenizer.

The tokenizer is NFD -> Lowercase -> StripAccents, the Whitespace pre-tokenizer (the regex
``\\w+|[^\\w\\s]+``), BPE with [UNK] per unknown character (no fused unknowns, no byte
fallback), and ``[CLS] $A`` / ``[CLS] $A [SEP] $B [SEP]``. Nothing here re-implements
Unicode: every code point is put through the tokenizer's own normalizer and pre-tokenizer,
and the results are folded into a table of code point ranges that only says what the
vocabulary can tell apart:

* a code point becomes a list of *symbols*: an alphabet id (5..), SPACE (0, splits words),
  UNK (1), or nothing (it normalizes to marks only, which StripAccents drops);
* a code point that is in no range is one [UNK] (the default, so the table only holds
  whitespace, dropped marks, code points that normalize onto the alphabet, and Hangul
  syllables, which NFD splits into two or three jamo and so into two or three symbols).

Whether an unknown character is a word character or punctuation never changes the ids (it
is one [UNK], and no merge involves [UNK]), so the table keeps the word/punctuation class
for the alphabet only. BPE ids are assigned in merge order (id = first merged id + rank),
so one (left, right) pair per merged token plus an index sorted by pair is all encoding needs.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from ..config import PAD_ID, UNK_ID
from ..errors import ExportError
from ..tokenizer import SPECIALS, EmbTokenizer

SPACE = PAD_ID  # symbol code of a whitespace character ([PAD] never comes from text)
KIND_SAME, KIND_STEP, KIND_DROP, KIND_SEQ, KIND_HANGUL = 0, 1, 2, 3, 4
KIND_NAMES = {KIND_SAME: "SAME", KIND_STEP: "STEP", KIND_DROP: "DROP", KIND_SEQ: "SEQ",
              KIND_HANGUL: "HANGUL"}
HANGUL_FIRST, HANGUL_COUNT = 0xAC00, 11172
MAX_CP = 0x110000
RANGE_BYTES = 8  # emb_tok_range_t: uint32 first << 3 | kind, uint16 count, uint16 value


@dataclass(frozen=True)
class TokRange:
    first: int
    count: int
    kind: int
    value: int


@dataclass(frozen=True)
class TokTables:
    vocab_size: int
    n_alphabet: int
    first_merged: int  # id of merge rank 0
    left: list[int]  # per merge rank: left id
    right: list[int]
    by_pair: list[int]  # merge ranks sorted by (left, right)
    ranges: list[TokRange]
    pool: list[int]  # SEQ sequences: length, symbols...
    punct: list[int]  # bitmap over alphabet ids (id - 5): 1 = punctuation, 0 = word
    specials: list[tuple[str, int]]

    def table_bytes(self) -> dict[str, int]:
        n_merges = len(self.left)
        return {"merges": 2 * 3 * n_merges, "ranges": RANGE_BYTES * len(self.ranges),
                "pool": 2 * len(self.pool), "punct": len(self.punct)}

    def flash_table_bytes(self) -> int:
        return sum(self.table_bytes().values())


def _check_supported(spec: dict) -> None:
    norm = spec.get("normalizer") or {}
    want_norm = ["NFD", "Lowercase", "StripAccents"]
    got_norm = [n.get("type") for n in norm.get("normalizers", [])] \
        if norm.get("type") == "Sequence" else [norm.get("type")]
    model = spec.get("model", {})
    problems = []
    if got_norm != want_norm:
        problems.append(f"normalizer {got_norm}")
    if (spec.get("pre_tokenizer") or {}).get("type") != "Whitespace":
        problems.append(f"pre-tokenizer {(spec.get('pre_tokenizer') or {}).get('type')}")
    if model.get("type") != "BPE" or model.get("byte_fallback") or model.get("fuse_unk") \
            or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix") \
            or model.get("dropout") or model.get("unk_token") != "[UNK]":
        problems.append("BPE options")
    extra = [t["content"] for t in spec.get("added_tokens", []) if t["content"] not in SPECIALS]
    if extra:
        problems.append(f"added tokens {extra[:3]}")
    if problems:
        raise ExportError(f"the C tokenizer does not support this tokenizer: {', '.join(problems)}",
                          hint="train the tokenizer with embbert-mcu (NFD, lowercase, "
                               "strip accents, Whitespace, BPE)")


def _merges(spec: dict) -> tuple[list[int], list[int], int, int]:
    vocab = spec["model"]["vocab"]
    merges = spec["model"]["merges"]
    alphabet = sorted(v for k, v in vocab.items() if len(k) == 1 and v >= len(SPECIALS))
    n_alpha = len(alphabet)
    first = len(SPECIALS) + n_alpha
    if alphabet != list(range(len(SPECIALS), first)):
        raise ExportError("the tokenizer's alphabet does not follow the specials",
                          hint="train the tokenizer with embbert-mcu")
    left, right = [], []
    for rank, merge in enumerate(merges):
        a, b = merge.split(" ") if isinstance(merge, str) else merge
        if vocab.get(a + b) != first + rank:
            raise ExportError(f"merge {rank} ({a!r}, {b!r}) is not token {first + rank}",
                              hint="the C tokenizer needs ids assigned in merge order")
        left.append(vocab[a])
        right.append(vocab[b])
    if first + len(merges) != len(vocab):
        raise ExportError(f"{len(vocab)} tokens but {first} + {len(merges)} merges",
                          hint="the C tokenizer needs every token to be a character or a merge")
    return left, right, n_alpha, first


def _symbols_per_code_point(tok, vocab: dict[str, int]) -> dict[int, tuple[int, ...]]:
    """Code point -> symbol codes, for every code point whose codes are not (UNK,)."""
    cps = [c for c in range(1, MAX_CP) if not 0xD800 <= c < 0xE000]
    joined = tok.normalizer.normalize_str("\x00".join(map(chr, cps)))
    parts = joined.split("\x00")
    if len(parts) != len(cps):
        raise ExportError("the normalizer merged code points across a NUL separator")
    parts.insert(0, tok.normalizer.normalize_str("\x00"))
    cps.insert(0, 0)
    space = _whitespace(tok, joined)
    alpha = {k: v for k, v in vocab.items() if len(k) == 1 and v >= len(SPECIALS)}
    known = space | set(alpha)
    out = {}
    for cp, norm in zip(cps, parts):
        if len(norm) == 1 and norm not in known:
            continue  # one unknown character: the default
        out[cp] = tuple(alpha.get(ch, SPACE if ch in space else UNK_ID) for ch in norm)
    return out


def _whitespace(tok, text: str, chunk: int = 2048) -> set[str]:
    """The characters of ``text`` the pre-tokenizer drops (the gaps between its pieces).
    Chunked: a dropped character is dropped wherever a chunk starts, and the library's
    offsets cost more than linear time on one long string."""
    space = set()
    for start in range(0, len(text), chunk):
        part, pos = text[start:start + chunk], 0
        for _piece, (a, b) in tok.pre_tokenizer.pre_tokenize_str(part):
            if a > pos:
                space.update(part[pos:a])
            pos = b
        space.update(part[pos:])
    return space


def _hangul_ok(codes: dict[int, tuple[int, ...]]) -> bool:
    """NFD splits every syllable into its jamo; the table may then compute them."""
    def of(cp):
        return codes.get(cp, (UNK_ID,))
    for s in range(HANGUL_COUNT):
        lead, vowel, trail = 0x1100 + s // 588, 0x1161 + (s % 588) // 28, 0x11A7 + s % 28
        want = of(lead) + of(vowel) + (of(trail) if s % 28 else ())
        if codes.get(HANGUL_FIRST + s, (UNK_ID,)) != want:
            return False
    return True


def _ranges(codes: dict[int, tuple[int, ...]]) -> tuple[list[TokRange], list[int]]:
    hangul = _hangul_ok(codes)
    out: list[TokRange] = []
    pool: list[int] = []
    seq_at: dict[tuple[int, ...], int] = {}
    if hangul:
        out.append(TokRange(HANGUL_FIRST, HANGUL_COUNT, KIND_HANGUL, 0))
    for cp in sorted(codes):
        if hangul and HANGUL_FIRST <= cp < HANGUL_FIRST + HANGUL_COUNT:
            continue
        c = codes[cp]
        if len(c) == 0:
            kind, value = KIND_DROP, 0
        elif len(c) == 1:
            kind, value = KIND_SAME, c[0]
        else:
            if c not in seq_at:
                seq_at[c] = len(pool)
                pool.extend((len(c),) + c)
            kind, value = KIND_SEQ, seq_at[c]
        last = out[-1] if out else None
        if last and last.first + last.count == cp and last.count < 0xFFFF \
                and last.kind != KIND_HANGUL:
            grown = _grow(last, kind, value)
            if grown is not None:
                out[-1] = grown
                continue
        out.append(TokRange(cp, 1, kind, value))
    return sorted(out, key=lambda r: r.first), pool


def _grow(last: TokRange, kind: int, value: int) -> TokRange | None:
    n = last.count
    if kind == KIND_DROP and last.kind == KIND_DROP:
        return TokRange(last.first, n + 1, KIND_DROP, 0)
    if kind == KIND_SEQ and last.kind == KIND_SEQ and value == last.value:
        return TokRange(last.first, n + 1, KIND_SEQ, value)
    if kind != KIND_SAME or last.kind not in (KIND_SAME, KIND_STEP):
        return None
    if last.kind == KIND_SAME and value == last.value:
        return TokRange(last.first, n + 1, KIND_SAME, value)
    step_ok = value >= len(SPECIALS) and last.value >= len(SPECIALS) and value == last.value + n
    if step_ok and (last.kind == KIND_STEP or n == 1):
        return TokRange(last.first, n + 1, KIND_STEP, last.value)
    return None


def _punct_bitmap(tok, vocab: dict[str, int], n_alpha: int) -> list[int]:
    """1 per alphabet id that is punctuation: "a" + ch + "a" is one piece for a word
    character and three for punctuation (one call over all of them, split by spaces)."""
    chars = sorted((i, ch) for ch, i in vocab.items() if len(ch) == 1 and i >= len(SPECIALS))
    text = " ".join("a" + ch + "a" for _, ch in chars)
    ends = {}
    for _p, (a, _b) in tok.pre_tokenizer.pre_tokenize_str(text):
        ends[a // 4] = ends.get(a // 4, 0) + 1
    bits = [0] * ((n_alpha + 7) // 8)
    for k, (i, _ch) in enumerate(chars):
        if ends.get(k, 0) != 1:
            j = i - len(SPECIALS)
            bits[j // 8] |= 1 << (j % 8)
    return bits


@functools.lru_cache(maxsize=4)
def _tables_from_json(text: str) -> TokTables:
    spec = json.loads(text)
    _check_supported(spec)
    tok = EmbTokenizer.from_json(text).tok
    vocab = spec["model"]["vocab"]
    left, right, n_alpha, first = _merges(spec)
    by_pair = sorted(range(len(left)), key=lambda r: (left[r], right[r]))
    ranges, pool = _ranges(_symbols_per_code_point(tok, vocab))
    specials = sorted(SPECIALS.items(), key=lambda kv: kv[1])
    return TokTables(vocab_size=len(vocab), n_alphabet=n_alpha, first_merged=first, left=left,
                     right=right, by_pair=by_pair, ranges=ranges, pool=pool,
                     punct=_punct_bitmap(tok, vocab, n_alpha), specials=specials)


def tokenizer_tables(tok: EmbTokenizer) -> TokTables:
    """The tables of the C tokenizer for ``tok`` (cached per tokenizer JSON)."""
    return _tables_from_json(tok.to_json())


__all__ = ["TokTables", "TokRange", "tokenizer_tables", "KIND_NAMES"]
