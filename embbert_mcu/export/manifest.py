"""The export manifest (``manifest.json``): what an export holds, typed and checked once.

    from embbert_mcu.export.manifest import Manifest
    m = Manifest.load("build/model")        # a directory or the manifest.json file itself
    m.prefix, m.arena_bytes, m.stages       # typed fields, named as the JSON keys
    m.write(path)                           # atomic; sorted keys, two-space indent

``load`` raises ``ManifestError`` (exit code 2, with a hint) on a missing, corrupt, foreign
or too-new manifest: every reader of an export goes through it. Format 1 is every export
from before the ``manifest_format`` key; format 2 adds that key and nothing else, so a reader
can refuse a manifest written by a newer embbert-mcu instead of misreading it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

from ..errors import ManifestError
from ..fileio import write_text

FILE = "manifest.json"
FORMAT = 2  # written by this version; 1 = the same keys without manifest_format
HINT = "export a checkpoint first: embbert-mcu export ckpt.pt -o build/model"

_STR, _INT, _DICT, _LIST = (str,), (int,), (dict,), (list,)
# JSON key -> accepted JSON types; every export since the first had these.
_REQUIRED = {
    "prefix": _STR, "model_sha256": _STR, "arena_bytes": _INT, "weights_bytes": _INT,
    "max_len": _INT, "n_classes": _INT, "vocab_size": _INT, "d_model": _INT, "n_layers": _INT,
    "labels": _LIST, "act_dtype": _STR, "stages": _LIST, "version": _STR, "quant": _DICT,
    "macs_at_max_len": _INT, "test_split": (str, type(None)),
}
# Added later: absent in older exports (mac_dtype then means "f32").
_OPTIONAL = {
    "mac_dtype": _STR, "x_layout": _DICT, "arena_plan": _DICT, "macs_per_stage": _DICT,
    "tokenizer": _DICT, "files": _LIST, "windows": _INT, "window_stride": _INT,
}


@dataclass(frozen=True)
class Manifest:
    prefix: str
    model_sha256: str  # SHA-256 of the exported checkpoint file
    arena_bytes: int  # the planned static arena
    weights_bytes: int  # packed weights in flash
    max_len: int
    n_classes: int
    vocab_size: int
    d_model: int
    n_layers: int
    labels: tuple  # label names (str, or int for sets labelled by number)
    act_dtype: str  # activation storage: "f32" or "int8"
    stages: tuple[str, ...]  # the C's stage names, in order
    version: str  # embbert-mcu version that wrote the export
    quant: dict  # the quantization policy (QuantPolicy.to_dict)
    macs_at_max_len: int
    test_split: str | None  # name of the checkpoint's test split
    mac_dtype: str = "f32"  # MAC path: "f32" or "int8"
    x_layout: dict | None = None  # X's parts -> arena byte offset (host stage dumps)
    arena_plan: dict | None = None  # plan.plan_record: buffers and ops (bench reports)
    macs_per_stage: dict | None = None  # stage -> [a, b, c]: MACs(n) = a + b n + c n^2
    tokenizer: dict | None = None  # tokc.TokenizerSizes.to_dict (exports with a C tokenizer)
    files: tuple[str, ...] | None = None  # what the export wrote (what it may replace)
    windows: int = 1  # how a text longer than max_len is read (reading.py)
    window_stride: int = 0  # tokens between window starts; 0: max_len - 1
    manifest_format: int = FORMAT

    def with_files(self, files: list[str]) -> "Manifest":
        return replace(self, files=tuple(files))

    def to_dict(self) -> dict:
        """The JSON document; optional records that are absent stay absent."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in _OPTIONAL:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def write(self, path: str | Path) -> None:
        """Write ``path`` (a file, or a directory to hold manifest.json) atomically."""
        path = Path(path)
        write_text(path / FILE if path.is_dir() else path, self.to_json())

    @classmethod
    def from_dict(cls, doc: object, where: str = FILE) -> "Manifest":
        """Check a parsed manifest's format, keys and types; ManifestError names the first fault."""
        if not isinstance(doc, dict):
            raise ManifestError(f"{where} is not an export manifest (not a JSON object)", hint=HINT)
        fmt = doc.get("manifest_format", 1)
        if not _is(fmt, _INT) or fmt < 1:
            raise ManifestError(f"{where} has manifest_format {fmt!r}, not a format number",
                                hint=HINT)
        if fmt > FORMAT:
            raise ManifestError(f"{where} is manifest format {fmt}; this embbert-mcu reads up to "
                                f"{FORMAT}", hint="upgrade embbert-mcu, or re-export with this one")
        missing = [k for k in _REQUIRED if k not in doc]
        if missing:
            raise ManifestError(f"{where} is not an export manifest of embbert-mcu (lacks "
                                f"{', '.join(missing[:4])})", hint=HINT)
        for key, types in {**_REQUIRED, **_OPTIONAL}.items():
            if key in doc and not _is(doc[key], types):
                raise ManifestError(f"{where}: {key} is {type(doc[key]).__name__}, expected "
                                    f"{' or '.join(_name(t) for t in types)}",
                                    hint="the manifest was edited or damaged; re-export")
        _check_items(doc, where)
        known = {f.name for f in fields(cls)}
        args = {k: tuple(v) if k in ("labels", "stages", "files") else v
                for k, v in doc.items() if k in known}
        return cls(**{**args, "manifest_format": fmt})

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        """The manifest of an export directory (or of a manifest.json file)."""
        path = Path(path)
        file = path / FILE if path.is_dir() or not path.suffix else path
        if not file.is_file():
            raise ManifestError(f"{path} is not an export directory (no {FILE})", hint=HINT)
        try:
            doc = json.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ManifestError(f"cannot read {file}: {exc.strerror or exc}", hint=HINT) from None
        except ValueError as exc:  # bad JSON or bad UTF-8
            raise ManifestError(f"{file} is corrupt: {exc}",
                                hint="re-export: embbert-mcu export ckpt.pt -o DIR") from None
        return cls.from_dict(doc, str(file))


def _is(value: object, types: tuple) -> bool:
    if isinstance(value, bool):  # JSON true is not a count
        return bool in types
    return isinstance(value, types)


def _name(t: type) -> str:
    return {str: "a string", int: "an integer", dict: "an object", list: "a list",
            type(None): "null"}[t]


def _check_items(doc: dict, where: str) -> None:
    """The lists' items: stage and file names are strings, labels strings or integers."""
    checks = {"stages": _STR, "files": _STR, "labels": (str, int)}
    for key, types in checks.items():
        bad = [v for v in doc.get(key) or [] if not _is(v, types)]
        if bad:
            raise ManifestError(f"{where}: {key} holds {bad[0]!r}, expected "
                                f"{' or '.join(_name(t) for t in types)}",
                                hint="the manifest was edited or damaged; re-export")
    windows, step = doc.get("windows", 1), doc.get("window_stride", 0)
    if windows < 1 or not 0 <= step < doc["max_len"]:
        raise ManifestError(f"{where}: windows {windows} and window_stride {step} do not read "
                            f"a text (need windows >= 1 and 0 <= window_stride < max_len)",
                            hint="the manifest was edited or damaged; re-export")
    if len(doc["labels"]) != doc["n_classes"]:
        raise ManifestError(f"{where}: {len(doc['labels'])} labels for {doc['n_classes']} "
                            f"classes", hint="the manifest was edited or damaged; re-export")
