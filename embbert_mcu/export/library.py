"""Stage 5c: the export as a library: the API (<prefix>.h, <prefix>_api.c with the label
names), the manifests (library.json for PlatformIO, library.properties for Arduino,
CMakeLists.txt for CMake and ESP-IDF) and examples/classify/main.c."""

from __future__ import annotations

import json

from .. import __version__
from .layout import SRC, model_files

LINE_MAX = 4096  # bytes per line the example classifies


def c_string(text: str) -> str:
    """A C99 string literal of ``text``'s UTF-8 bytes (octal escapes, no trigraphs)."""
    out = []
    for b in text.encode("utf-8"):
        ch = chr(b)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def render_library(env, prefix: str, labels: list[str], source_names: list[str],
                   banner_for, windows: int = 1) -> dict[str, str]:
    """relative path -> text: src/<prefix>.h, src/<prefix>_api.c, the manifests, example."""
    macro = prefix.upper()
    names = model_files(prefix)
    label_list = ", ".join(labels)
    if len(label_list) > 120:
        label_list = label_list[:117] + "..."
    label_list = label_list.replace("*/", "* /")
    sources = sorted(set(source_names) | {names["api"]})
    sources = [s for s in sources if s.endswith(".c")]
    common = {"prefix": prefix, "macro": macro, "label_list": label_list,
              "n_classes": len(labels), "version": __version__, "tool_version": __version__,
              "windows": windows}
    # JSON cannot hold a comment: library.json carries no banner (its description names
    # the tool and version instead).
    lib_json = env.get_template("library/library.json.j2").render(**common)
    json.loads(lib_json)  # the template must give valid JSON
    return {
        f"{SRC}/{names['api_header']}": env.get_template("api.h.j2").render(
            banner=banner_for(names["api_header"]), guard=f"{macro}_H", **common),
        f"{SRC}/{names['api']}": env.get_template("api.c.j2").render(
            banner=banner_for(names["api"]), labels=[c_string(x) for x in labels], **common),
        "library.json": lib_json,
        "library.properties": env.get_template("library/library.properties.j2").render(
            banner=banner_for("library.properties"), **common),
        "CMakeLists.txt": env.get_template("library/CMakeLists.txt.j2").render(
            banner=banner_for("CMakeLists.txt"), sources=sources, **common),
        "examples/classify/main.c": env.get_template("library/classify_main.c.j2").render(
            banner=banner_for("examples/classify/main.c"), line_max=LINE_MAX * windows, **common),
    }
