"""templates/, firmware/ and boards/ are found from the package (checkout or wheel layout)."""

import pytest

from embbert_mcu import resources
from embbert_mcu.errors import EmbError


def test_checkout_folders_are_found():
    assert (resources.resource_dir("templates") / "model.c.j2").is_file()
    assert (resources.resource_dir("firmware") / "runtime" / "emb_runtime.h").is_file()
    assert (resources.resource_dir("boards") / "qemu_h743.json").is_file()


def test_wheel_copy_is_preferred(tmp_path, monkeypatch):
    package = tmp_path / "embbert_mcu"
    (package / "_data" / "templates").mkdir(parents=True)
    monkeypatch.setattr(resources, "_PACKAGE", package)
    assert resources.resource_dir("templates") == package / "_data" / "templates"


def test_missing_folder_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "_PACKAGE", tmp_path / "embbert_mcu")
    with pytest.raises(EmbError, match="boards/ folder"):
        resources.resource_dir("boards")


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        resources.resource_dir("secrets")
