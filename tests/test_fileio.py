"""Atomic writes: the target is replaced whole or not at all, with the mode open() would give."""

import os
import stat

import pytest

from embbert_mcu.fileio import atomic_path, write_text


def test_written_file_has_the_mode_a_plain_open_gives(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_text(tmp_path / "atomic.txt", "x")
    # mkstemp alone gives 0600 whatever the umask; under the usual 022 that differs
    atomic = stat.S_IMODE(os.stat(tmp_path / "atomic.txt").st_mode)
    assert atomic == stat.S_IMODE(os.stat(plain).st_mode)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.c"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.c"]
