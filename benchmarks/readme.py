"""Render README.md's figure regions and docs/results.md from the records in docs/results/.

README.md marks every passage that holds a measured figure:

    <!-- figures:demo -->
    ... rendered, do not edit by hand ...
    <!-- /figures:demo -->

This script fills each region from benchmarks/templates/readme_<name>.md.j2 and rewrites the
whole of docs/results.md (every record: its figures, date, commit, command, machine). Python
computes the figures (benchmarks/figures.py); the templates only lay them out.

    python benchmarks/readme.py            # rewrite README.md and docs/results.md (make readme)
    python benchmarks/readme.py --check    # exit 1 if either differs from what the records give
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import jinja2

from embbert_mcu.fileio import write_text

# Run as a script, this folder is sys.path[0]; the tests put it there while they import us.
import figures
import sections

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = Path(__file__).resolve().parent / "templates"
REGION_RE = re.compile(r"(<!-- figures:([a-z0-9_-]+) -->\n)(.*?)(<!-- /figures:\2 -->)", re.S)
OPEN_RE = re.compile(r"<!-- (/?)figures:([a-z0-9_-]+) -->")


class RenderError(Exception):
    """A missing record, an unknown region or unbalanced markers: one line, exit code 2."""


def load_records(folder: Path) -> list[dict]:
    """Every record, oldest first (by date, then name)."""
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except ValueError as e:
            raise RenderError(f"{path} is not a JSON record: {e}") from None
    return sorted(records, key=lambda r: (r["date"], r["name"]))


def latest(records: list[dict]) -> dict[str, dict]:
    """The newest record of each name: what README.md shows."""
    return {r["name"]: r for r in records}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True)
    return env


def check_markers(text: str) -> None:
    """Every opening marker has its closing one, in order, and no region nests."""
    open_name = None
    for m in OPEN_RE.finditer(text):
        closing, name = m.group(1) == "/", m.group(2)
        if not closing and open_name is None:
            open_name = name
        elif closing and open_name == name:
            open_name = None
        else:
            raise RenderError(f"README.md: unbalanced figure marker {m.group(0)!r}; "
                              "each <!-- figures:NAME --> needs its <!-- /figures:NAME -->")
    if open_name is not None:
        raise RenderError(f"README.md: region {open_name!r} is never closed")


def render_readme(text: str, env: jinja2.Environment, recs: dict[str, dict]) -> str:
    check_markers(text)

    def fill(m: re.Match) -> str:
        name = m.group(2)
        compute = figures.REGIONS.get(name)
        if compute is None:
            raise RenderError(f"README.md: no renderer for region {name!r} "
                              f"(known: {', '.join(sorted(figures.REGIONS))})")
        body = env.get_template(f"readme_{name}.md.j2").render(**compute(recs))
        return m.group(1) + body.rstrip("\n") + "\n" + m.group(4)

    return REGION_RE.sub(fill, text)


def render_results(env: jinja2.Environment, records: list[dict]) -> str:
    parts = [sections.record_section(r) for r in reversed(records)]
    return env.get_template("results.md.j2").render(sections=parts)


def render_all(root: Path) -> dict[Path, str]:
    """What README.md and docs/results.md must hold, given root's records."""
    records = load_records(root / "docs" / "results")
    env = environment()
    readme = root / "README.md"
    try:
        new_readme = render_readme(readme.read_text(encoding="utf-8"), env, latest(records))
    except KeyError as e:
        raise RenderError(f"no record named {e.args[0]!r} in docs/results/; "
                          "make one with benchmarks/record.py") from None
    return {readme: new_readme, root / "docs" / "results.md": render_results(env, records)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="only compare; exit 1 on a difference")
    p.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    try:
        outputs = render_all(args.root)
    except RenderError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    stale = [path for path, text in outputs.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(args.root)} differs from its records: run `make readme` "
                  "(figures come from docs/results/, not from hand edits)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        write_text(path, outputs[path])  # atomic: a temporary file, then one rename
        print(f"wrote {path.relative_to(args.root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
