"""Stage 5b: lay the tokenizer's tables out as C (templates/tokenizer.[ch].j2).

Python computes every table in ``tokgen``; this module only formats the numbers into lines
and fills the templates. ``<prefix>_tokenizer.c`` keeps everything ``static const`` (flash)
and one static scratch of ``4 * MAX_WORD`` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import CLS_ID, SEP_ID, UNK_ID
from .tokgen import SPACE, TokTables

MAX_WORD = 512  # symbols per word before the C encodes it in chunks (scratch = 4 bytes each)
PER_LINE = 12


@dataclass(frozen=True)
class TokenizerSizes:
    table_bytes: int  # const tables
    scratch_bytes: int  # the static word buffer
    max_word: int
    n_ranges: int
    n_merges: int

    def to_dict(self) -> dict:
        return {"table_bytes": self.table_bytes, "scratch_bytes": self.scratch_bytes,
                "max_word": self.max_word, "n_ranges": self.n_ranges, "n_merges": self.n_merges}


def _lines(values: list, fmt: str = "{}u") -> list[str]:
    cells = [fmt.format(v) for v in values] or ["0u"]
    return [", ".join(cells[i:i + PER_LINE]) + "," for i in range(0, len(cells), PER_LINE)]


def _range_lines(tables: TokTables) -> list[str]:
    return [f"{{0x{r.first:05X}u << 3 | {r.kind}u, {r.count}u, {r.value}u}},"
            for r in tables.ranges]


def tokenizer_sizes(tables: TokTables, max_word: int = MAX_WORD) -> TokenizerSizes:
    table = tables.table_bytes()
    table["pool"] = 2 * max(1, len(tables.pool))  # C has no empty arrays
    return TokenizerSizes(table_bytes=sum(table.values()), scratch_bytes=4 * max_word,
                          max_word=max_word, n_ranges=len(tables.ranges),
                          n_merges=len(tables.left))


def render_tokenizer(env, prefix: str, tables: TokTables, banner_for,
                     max_word: int = MAX_WORD) -> dict[str, str]:
    """file name -> text of <prefix>_tokenizer.h and <prefix>_tokenizer.c."""
    macro = prefix.upper()
    sizes = tokenizer_sizes(tables, max_word)
    specials = [{"name": name, "id": i} for name, i in tables.specials]
    max_syms = max([1] + [tables.pool[r.value] for r in tables.ranges if r.kind == 3]
                   + [3 * max(1, _max_plain(tables))])
    common = {"prefix": prefix, "macro": macro}
    h_name, c_name = f"{prefix}_tokenizer.h", f"{prefix}_tokenizer.c"
    return {
        h_name: env.get_template("tokenizer.h.j2").render(
            banner=banner_for(h_name), guard=f"{macro}_TOKENIZER_H", max_word=max_word,
            table_bytes=sizes.table_bytes, n_merges=len(tables.left),
            n_ranges=len(tables.ranges),
            special_names=" ".join(name for name, _ in tables.specials), **common),
        c_name: env.get_template("tokenizer.c.j2").render(
            banner=banner_for(c_name), space_code=SPACE, unk_id=UNK_ID, cls_id=CLS_ID,
            sep_id=SEP_ID, first_alpha=tables.first_merged - tables.n_alphabet,
            first_merged=tables.first_merged, max_syms=max_syms,
            n_ranges=len(tables.ranges), range_lines=_range_lines(tables),
            n_pool=max(1, len(tables.pool)), pool_lines=_lines(tables.pool),
            n_punct=len(tables.punct), punct_lines=_lines(tables.punct, "0x{:02X}u"),
            n_merges=len(tables.left), left_lines=_lines(tables.left),
            right_lines=_lines(tables.right), by_pair_lines=_lines(tables.by_pair),
            n_specials=len(specials), specials=specials, **common),
    }


def _max_plain(tables: TokTables) -> int:
    """Most symbols one non-Hangul code point can give (a jamo is looked up as one)."""
    return max([1] + [tables.pool[r.value] for r in tables.ranges if r.kind == 3])
