# Every target sets up what it needs itself: a virtual environment in .venv (torch 2.13.0 CPU,
# then this package with its test extras) and, for firmware targets, Debian's Arm cross
# compiler and QEMU.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: setup toolchain test test-fast demo bench model clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'
	touch $@

toolchain:
	@if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null \
	    || [ ! -f /usr/lib/arm-none-eabi/newlib/libc.a ]; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

# The tests: unit, golden-kernel and end-to-end (emulator) tests.
test: setup toolchain
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The same without the slow end-to-end tests.
test-fast: setup
	$(BIN)/pytest -q -m "not slow" $(PYTEST_ARGS)

# The main job on the default model and data.
demo: setup toolchain
	$(BIN)/embbert-mcu memory --preset base

# Speed and memory figures (printed, not asserted).
bench: setup toolchain
	$(BIN)/embbert-mcu memory --preset base

clean:
	rm -rf build .pytest_cache
