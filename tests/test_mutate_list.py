"""Every deliberate bug of `make mutate` (tests/mutate.py) still finds its place: each snippet
occurs exactly once in its file, so an edit that moves the code fails here, in the fast suite,
instead of leaving `make mutate` (run by `make bench`) unable to apply the mutation."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _mutations():
    spec = importlib.util.spec_from_file_location("embbert_mutate", ROOT / "tests" / "mutate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module.MUTATIONS


@pytest.mark.parametrize("mutation", _mutations(), ids=lambda m: m.name)
def test_each_mutation_applies_exactly_once(mutation):
    text = (ROOT / mutation.path).read_text(encoding="utf-8")
    assert text.count(mutation.old) == 1, f"{mutation.name}: snippet not found once in {mutation.path}"
    assert mutation.new != mutation.old
