"""Fixtures of the kernel tests: the host driver compiled once per session and EMB_QBLOCK.

The tolerance policy is written in kernel_driver.py (integer paths bit-exact, float paths an
absolute + relative bound per case)."""

import pytest

from kernel_driver import SANITIZE_FLAGS, Driver, build_driver


@pytest.fixture(scope="session")
def sanitized_driver(tmp_path_factory):
    """EMB_QBLOCK 32 under ASan + UBSan: out-of-bounds access and UB fail the test."""
    out = tmp_path_factory.mktemp("kernels_q32_sanitized")
    return Driver(build_driver(out, qblock=32, extra_flags=SANITIZE_FLAGS))


@pytest.fixture(scope="session", params=["plain", "sanitized"])
def driver(request, tmp_path_factory):
    """The driver built with EMB_QBLOCK 32, the exporter's default: every test runs once on the
    plain -O2 build and once on the sanitized one."""
    if request.param == "sanitized":
        return request.getfixturevalue("sanitized_driver")
    return Driver(build_driver(tmp_path_factory.mktemp("kernels_q32"), qblock=32))


@pytest.fixture(scope="session")
def driver64(tmp_path_factory):
    """The driver built with EMB_QBLOCK 64: blocks holding four rows of 16."""
    return Driver(build_driver(tmp_path_factory.mktemp("kernels_q64"), qblock=64))
