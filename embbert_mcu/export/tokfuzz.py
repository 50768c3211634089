"""Generated inputs for checking the C tokenizer against the Python one: random UTF-8 from
every plane, invalid UTF-8, control characters, specials, very long words, empty strings.
Seeded, so a failure can be replayed."""

from __future__ import annotations

import random

from ..tokenizer import SPECIALS

_PIECES = ["a", "e", "the", "ing", " ", "  ", "\t", "\n", "\r\n", ".", ",", "!", "'", "-", "_",
           "0", "9", "é", "É", "ß", "İ", "ø", "œ", "Σ", "ς", "в", "中", "的", "한", "\u0301",
           "\u0308", "\u00a0", "\u3000", "\u2028", "\u0085", "\u200b", "\ufeff", "\U0001F600",
           "[", "]", "[SEP", "SEP]"] + list(SPECIALS)
_BAD = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc2", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xe2\x82",
        b"\xf0\x90\x80", b"\xf4\x90\x80\x80", b"\xf5", b"\xff", b"\xfe"]


def _random_char(rng: random.Random) -> str:
    plane = rng.random()
    if plane < 0.4:
        cp = rng.randrange(0, 0x80)
    elif plane < 0.7:
        cp = rng.randrange(0x80, 0x800)
    elif plane < 0.95:
        cp = rng.randrange(0x800, 0x10000)
    else:
        cp = rng.randrange(0x10000, 0x110000)
    return chr(cp) if not 0xD800 <= cp < 0xE000 else "\ufffd"


def fuzz_texts(n: int, seed: int = 0, long_word: int = 200) -> list[str | bytes]:
    """``n`` test inputs: str, or bytes where the input is deliberately not UTF-8."""
    rng = random.Random(seed)
    out: list[str | bytes] = ["", " ", "[SEP]", "[CLS][SEP]", "a" * long_word,
                              "ab" * long_word, ("x" * long_word + " ") * 3]
    while len(out) < n:
        kind = rng.randrange(5)
        if kind == 0:  # random code points
            out.append("".join(_random_char(rng) for _ in range(rng.randrange(0, 40))))
        elif kind == 1:  # words of known pieces, marks and specials
            out.append("".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 30))))
        elif kind == 2:  # bytes, some not UTF-8
            parts = [rng.choice(_BAD) if rng.random() < 0.3 else
                     rng.choice(_PIECES).encode() for _ in range(rng.randrange(1, 20))]
            out.append(b"".join(parts))
        elif kind == 3:  # control characters
            out.append("".join(chr(rng.randrange(0, 0x20)) if rng.random() < 0.5 else
                               rng.choice("ab .") for _ in range(rng.randrange(0, 30))))
        else:  # a long word of letters and accents
            out.append("".join(rng.choice("abcdeéèêxyz") for _ in
                               range(rng.randrange(50, long_word))))
    return out[:n]
