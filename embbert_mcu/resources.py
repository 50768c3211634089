"""Where templates/, firmware/ and boards/ are found.

In a source checkout (and an editable install) they are the top-level folders of the
repository. A wheel carries copies under ``embbert_mcu/_data/`` (see pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

from .errors import EmbError

_PACKAGE = Path(__file__).resolve().parent
_KINDS = ("templates", "firmware", "boards")


def resource_dir(kind: str) -> Path:
    """The folder holding ``kind`` (one of templates, firmware, boards)."""
    if kind not in _KINDS:
        raise ValueError(f"unknown resource kind {kind!r}")
    for candidate in (_PACKAGE / "_data" / kind, _PACKAGE.parent / kind):
        if candidate.is_dir():
            return candidate
    raise EmbError(
        f"the {kind}/ folder of embbert-mcu is missing",
        hint="reinstall the package (pip install embbert-mcu) or run from a full checkout",
    )
