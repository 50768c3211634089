"""Keep one measurement run as a results record: docs/results/<name>-<date>.json.

A record is the JSON document a measuring command printed (or wrote, e.g. `bench --report
DIR`'s report.json) plus what is needed to trust it again: the UTC date, the git commit, the
exact command, the wall time and a note on the machine. README.md and docs/results.md are
rendered from these records (benchmarks/readme.py), never typed by hand.

    python benchmarks/record.py run NAME [--json-file FILE] [--machine TEXT] -- COMMAND...
    python benchmarks/record.py ingest NAME --json-file FILE --command TEXT --date DATE
        --commit HASH [--source measured|transcribed] [--seconds S] [--machine TEXT] [--note TEXT]

`run` runs COMMAND in the repository, reads its stdout (or FILE once it ends) as JSON and
records it; `ingest` records a document measured earlier or transcribed from the history of
the docs (`--source transcribed`). A record file is written atomically and never replaces a
different record.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from embbert_mcu.fileio import write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results"
MACHINE = ("the project's shared 2-core x86-64 build host (other jobs running), gcc 12, "
           "arm-none-eabi-gcc 12, qemu-system-arm 7.2")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}Z)?$")


class RecordError(Exception):
    """A bad argument or a refused write: printed as one line, exit code 2."""


def git_commit() -> tuple[str, bool]:
    """The checked-out commit and whether tracked files differ from it."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip() != ""
    return head, dirty


def record_path(results: Path, record: dict) -> Path:
    stamp = record["date"].replace("-", "").replace(":", "")
    return results / f"{record['name']}-{stamp}.json"


def write_record(results: Path, record: dict) -> Path:
    """Write atomically; an identical record already there is fine, a different one is refused."""
    path = record_path(results, record)
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    if path.exists():
        if path.read_text(encoding="utf-8") == text:
            return path
        raise RecordError(f"{path} holds a different record; a new run gets a new date, "
                          "or remove the old record first if it was wrong")
    results.mkdir(parents=True, exist_ok=True)
    write_text(path, text)  # atomic: a temporary file beside it, then one rename
    return path


def load_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RecordError(f"cannot read a JSON document from {path}: {e}") from None
    if not isinstance(doc, dict):
        raise RecordError(f"{path} holds no JSON object; record what a --json command printed")
    return doc


def make_record(name: str, document: dict, command: str, date: str, commit: str, *,
                source: str = "measured", seconds: float | None = None,
                machine: str = MACHINE, dirty: bool = False, note: str = "") -> dict:
    if not NAME_RE.match(name):
        raise RecordError(f"bad record name {name!r}: use lower-case letters, digits, - _ .")
    if not DATE_RE.match(date):
        raise RecordError(f"bad date {date!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)")
    if source not in ("measured", "transcribed"):
        raise RecordError(f"bad source {source!r}: measured or transcribed")
    record = {"name": name, "date": date, "commit": commit, "command": command,
              "source": source, "machine": machine, "document": document}
    if seconds is not None:
        record["seconds"] = round(seconds, 1)
    if dirty:
        record["dirty"] = True  # tracked files differed from the commit when it ran
    if note:
        record["note"] = note
    return record


def run_command(args: argparse.Namespace) -> dict:
    if not args.command:
        raise RecordError("no command given: record.py run NAME -- COMMAND ...")
    commit, dirty = git_commit()
    date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    start = time.monotonic()
    proc = subprocess.run(args.command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    seconds = time.monotonic() - start
    if args.json_file:
        document = load_json(Path(args.json_file))
    else:
        try:
            document = json.loads(proc.stdout)
        except ValueError:
            raise RecordError(f"the command printed no JSON document (exit {proc.returncode}); "
                              "give it --json") from None
    note = f"exit code {proc.returncode}" if proc.returncode else ""
    args.exit_code = proc.returncode  # a failed check is recorded, then still fails the run
    return make_record(args.name, document, shlex.join(args.command), date, commit,
                       seconds=seconds, machine=args.machine, dirty=dirty, note=note)


def ingest(args: argparse.Namespace) -> dict:
    document = load_json(Path(args.json_file))
    return make_record(args.name, document, args.command, args.date, args.commit,
                       source=args.source, seconds=args.seconds, machine=args.machine,
                       note=args.note)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=RESULTS, help="records folder")
    sub = p.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("run", help="run a --json command and record its document")
    r.add_argument("name")
    r.add_argument("--json-file", help="read this file after the run instead of stdout")
    r.add_argument("--machine", default=MACHINE)
    r.add_argument("command", nargs=argparse.REMAINDER)
    i = sub.add_parser("ingest", help="record a document measured earlier or transcribed")
    i.add_argument("name")
    i.add_argument("--json-file", required=True)
    i.add_argument("--command", required=True)
    i.add_argument("--date", required=True)
    i.add_argument("--commit", required=True)
    i.add_argument("--source", default="measured")
    i.add_argument("--seconds", type=float)
    i.add_argument("--machine", default=MACHINE)
    i.add_argument("--note", default="")
    args = p.parse_args(argv)
    if args.mode == "run" and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        record = run_command(args) if args.mode == "run" else ingest(args)
        path = write_record(args.results, record)
    except RecordError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return getattr(args, "exit_code", 0)


if __name__ == "__main__":
    sys.exit(main())
