"""Fixtures of the kernel tests: the host driver compiled once per session and EMB_QBLOCK.

The tolerance policy is written in kernel_driver.py (integer paths bit-exact, float paths an
absolute + relative bound per case)."""

import pytest

from kernel_driver import Driver, build_driver


@pytest.fixture(scope="session")
def driver(tmp_path_factory):
    """The driver built with EMB_QBLOCK 32, the exporter's default."""
    return Driver(build_driver(tmp_path_factory.mktemp("kernels_q32"), qblock=32))


@pytest.fixture(scope="session")
def driver64(tmp_path_factory):
    """The driver built with EMB_QBLOCK 64: blocks holding four rows of 16."""
    return Driver(build_driver(tmp_path_factory.mktemp("kernels_q64"), qblock=64))
