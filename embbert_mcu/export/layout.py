"""Where things are in an export directory, which is also a C library:

    manifest.json, testset.jsonl, tokenizer.json, model.onnx   the tool's records
    library.json (PlatformIO), library.properties (Arduino), CMakeLists.txt (CMake, ESP-IDF)
    src/        <prefix>.h (the API), <prefix>_model.[ch], <prefix>_weights.c,
                <prefix>_tokenizer.[ch], <prefix>_api.c, emb_config.h, the runtime emb_*.[ch]
    examples/classify/main.c

Exports from before the library layout kept the C at the top level; ``source_dir`` finds
either.
"""

from __future__ import annotations

from pathlib import Path

SRC = "src"


def source_dir(model_dir: str | Path) -> Path:
    """The folder holding the export's C sources and headers."""
    model_dir = Path(model_dir)
    src = model_dir / SRC
    return src if src.is_dir() else model_dir


def model_files(prefix: str) -> dict[str, str]:
    """Role -> file name of the generated model sources (prefixed: no clash in a project)."""
    return {"header": f"{prefix}_model.h", "model": f"{prefix}_model.c",
            "weights": f"{prefix}_weights.c", "api_header": f"{prefix}.h",
            "api": f"{prefix}_api.c", "tokenizer_header": f"{prefix}_tokenizer.h",
            "tokenizer": f"{prefix}_tokenizer.c"}
