"""How a model reads a text longer than its ``l`` positions.

With ``windows == 1`` (every model before this option, and the default) it reads ``[CLS]``
and the first ``l - 1`` tokens. With ``windows = W > 1`` it reads up to W windows, window k
being ``[CLS]`` and tokens ``k*s .. k*s + l - 2`` of the text (``s`` the stride, ``l - 1``
unless the config sets one): a window is read only if the one before it did not reach the
end of the text. The text's logits are the mean of its windows' logits, summed in window
order in float32 and then divided by their count, as the exported C does on the device.

The ids of a text are kept as ``[CLS] tokens`` cut to ``text_cap`` (what the windows can
reach); ``split`` turns them into the windows a model runs on. ``cfg`` is anything with
``max_len``, ``windows`` and ``window_stride``: a model config or an export's manifest.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from .config import EmbBertConfig  # or an export Manifest: the same three fields


def stride(cfg: EmbBertConfig) -> int:
    return cfg.window_stride or cfg.max_len - 1


def text_cap(cfg: EmbBertConfig) -> int:
    """The ids of a text the model reads at most: [CLS] and the tokens its windows cover."""
    if cfg.windows == 1:
        return cfg.max_len
    return cfg.max_len + (cfg.windows - 1) * stride(cfg)


def spans(n: int, span: int, step: int, windows: int) -> list[tuple[int, int]]:
    """(start, end) of each window read of ``n`` tokens: window k covers tokens
    ``k*step .. k*step + span - 1`` (cut at n) and is read only if window k - 1 did not reach
    the end; window 0 always. The rule of the student (``split``) and of the MiniLM teacher."""
    out = [(0, min(n, span))]
    for k in range(1, windows):
        if (k - 1) * step + span >= n:
            break
        out.append((k * step, min(n, k * step + span)))
    return out


def split(ids: Sequence[int], cfg: EmbBertConfig) -> list[list[int]]:
    """``[CLS] tokens`` (at most ``text_cap`` ids) -> the windows the model runs on."""
    if cfg.windows == 1 or len(ids) <= cfg.max_len:
        return [list(ids)]
    cls, tokens = ids[0], ids[1:]
    return [[cls, *tokens[a:b]]
            for a, b in spans(len(tokens), cfg.max_len - 1, stride(cfg), cfg.windows)]


def split_many(seqs: Sequence[Sequence[int]], cfg: EmbBertConfig) -> tuple[list[list[int]], list[int]]:
    """Every sequence's windows, one after another, and the index of the sequence each came from."""
    flat, owner = [], []
    for i, ids in enumerate(seqs):
        for window in split(ids, cfg):
            flat.append(window)
            owner.append(i)
    return flat, owner


def mean_by_owner(window_logits: torch.Tensor, owner: Sequence[int], n: int) -> torch.Tensor:
    """(n, C) float32: each sequence's windows' logits summed in order, then divided by their count."""
    window_logits = window_logits.float()
    out = torch.zeros(n, window_logits.shape[1], dtype=torch.float32)
    count = [0] * n
    for j, i in enumerate(owner):
        out[i] += window_logits[j]
        count[i] += 1
    return out / torch.tensor(count, dtype=torch.float32).clamp_min(1).unsqueeze(1)


def windowed(run: Callable[[list[list[int]]], object], seqs: Sequence[Sequence[int]],
             cfg: EmbBertConfig) -> torch.Tensor:
    """(N, C) logits of ``seqs`` read as ``cfg`` says, ``run`` giving the logits of a list of windows."""
    flat, owner = split_many(seqs, cfg)
    return mean_by_owner(torch.as_tensor(run(flat), dtype=torch.float32), owner, len(seqs))
