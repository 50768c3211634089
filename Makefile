# Every target sets up what it needs itself: a virtual environment in .venv (torch 2.13.0 CPU,
# then this package with its test and teacher extras) and, for firmware targets, Debian's Arm cross
# compiler and QEMU.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang-format
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

FLOAT_CKPT := models/embbert-base-rt-polarity.pt
DEFAULT_CKPT := models/embbert-base-rt-polarity-q.pt
BACKBONE_CKPT := models/embbert-base-backbone-mlm15k.pt
PRETRAIN_CKPT := build/pretrain-base-15k.pt
EMB := $(BIN)/embbert-mcu
DEMO_LIMIT ?= 400

.PHONY: setup toolchain test test-fast demo bench bench-kernels fuzz mutate model readme lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,teacher,dev]'
	touch $@

toolchain:
	@if ! command -v arm-none-eabi-gcc >/dev/null || ! command -v qemu-system-arm >/dev/null \
	    || ! command -v clang-format >/dev/null \
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

# The main job: export the default checkpoint, verify the C on the host, then flash it to the
# emulated Nucleo-H743 and bench it over the serial protocol against the host C build; the
# report (Markdown, plots, JSON) goes to build/report.
demo: setup toolchain
	$(EMB) memory --preset base
	$(EMB) export $(DEFAULT_CKPT) -o build/model --verify
	$(EMB) bench --board qemu_h743 --model build/model --limit $(DEMO_LIMIT) --budget 781kB \
	    --report build/report
	@echo "the demo's report: build/report/report.md (plots: build/report/*.png)"

# The measured figures, each run kept as a record in docs/results/ (benchmarks/record.py: the
# command's JSON with date, commit, command and wall time), then README.md's figure regions and
# docs/results.md rendered from them: memory report, kernel instructions per MAC, export + host
# verification, the device bench on both emulated boards (the F446 on the whole test split),
# the integer MAC path on 40 texts of 256 tokens and against the float path of the same
# weights, the exported C against onnxruntime on this host, and the mutation check. Commit
# the new records with the rendered docs.
RECORD := $(BIN)/python benchmarks/record.py run
bench: setup toolchain
	$(RECORD) memory-base -- $(EMB) memory --preset base --json
	$(RECORD) kernels-mac -- $(BIN)/python benchmarks/kernels.py --json
	$(RECORD) export-default -- $(EMB) export $(DEFAULT_CKPT) -o build/model --verify --json
	$(RECORD) bench-qemu_h743 -- $(EMB) bench --board qemu_h743 --model build/model \
	    --limit $(DEMO_LIMIT) --budget 781kB --report build/report-h743 --json
	$(RECORD) bench-qemu_f446 -- $(EMB) bench --board qemu_f446 --model build/model \
	    --budget 781kB --report build/report-f446 --json
	$(BIN)/python benchmarks/longset.py --model build/model -o build/long256.csv
	$(RECORD) bench-long-qemu_f446 -- $(EMB) bench --board qemu_f446 --model build/model \
	    --test build/long256.csv --budget 781kB --report build/report-long-f446 --json
	$(RECORD) bench-long-qemu_h743 -- $(EMB) bench --board qemu_h743 --model build/model \
	    --test build/long256.csv --budget 781kB --report build/report-long-h743 --json
	$(EMB) export $(DEFAULT_CKPT) -o build/model-f32 --mac f32 --no-onnx
	$(RECORD) bench-f32-long-qemu_f446 -- $(EMB) bench --board qemu_f446 --model build/model-f32 \
	    --test build/long256.csv --budget 781kB --json
	$(RECORD) bench-f32-qemu_f446 -- $(EMB) bench --board qemu_f446 --model build/model-f32 \
	    --limit $(DEMO_LIMIT) --budget 781kB --json
	$(BIN)/pip install -q onnxruntime
	$(RECORD) host-onnx -- $(BIN)/python benchmarks/host_onnx.py --model build/model --json
	$(RECORD) profile-qemu_f446 -- $(BIN)/python benchmarks/profile.py --model build/model --json
	$(BIN)/python tests/mutate.py
	$(BIN)/python benchmarks/readme.py

# Deliberate bugs, one at a time in a scratch copy (tests/mutate.py): fails unless the tests
# that guard each place catch every one.
mutate: setup toolchain
	$(BIN)/python tests/mutate.py

bench-kernels: setup toolchain
	$(BIN)/python benchmarks/kernels.py

# A hostile fake device (loopback TCP) against the real link and bench code for FUZZ_SECONDS:
# counts per case; non-zero exit if any session ends other than in a typed device error.
FUZZ_SECONDS ?= 120
fuzz: setup
	$(BIN)/python -m embbert_mcu.device.fuzz --seconds $(FUZZ_SECONDS)

# Re-make the committed default checkpoints (base preset, rt-polarity): 15,000 MLM+NSP
# pretraining steps (resumable, the backbone written alone); the student of both teachers
# (MiniLM fine-tuned for 2 epochs and the n-gram regression) on the training texts, their
# copies and 150,000 unlabelled sentences; quantization with every weight int8 (--fallback
# none: the speed figures are those of the integer kernels). About 3 h on this CPU. The
# times, why each option and the seed were chosen, and the recipes before it: the default's
# section of docs/training.md.
model: setup
	$(EMB) pretrain --steps 15000 --resume -o $(PRETRAIN_CKPT) --backbone $(BACKBONE_CKPT)
	$(EMB) train --data rt-polarity --init $(BACKBONE_CKPT) --teacher minilm --teacher-epochs 2 \
	    --distill --teacher-unlabelled 150000 --epochs 6 --ema 1 --lr 3e-3 --temperature 0.5 \
	    --seed 1 --teacher-seed 0 -o $(FLOAT_CKPT)
	$(EMB) quantize $(FLOAT_CKPT) --mac int8 --fallback none -o $(DEFAULT_CKPT)

# README.md's figure regions and docs/results.md, rendered from the records in docs/results/
# (benchmarks/record.py makes a record of a measuring command; the tests fail on a difference).
readme: setup
	$(BIN)/python benchmarks/readme.py

# ruff over the Python, clang-format (dry run, .clang-format) over the hand-written C.
C_SOURCES = $(shell find firmware tests/kernels -name '*.c' -o -name '*.h')
lint: setup toolchain
	$(BIN)/ruff check embbert_mcu tests benchmarks
	clang-format --dry-run --Werror $(C_SOURCES)

clean:
	rm -rf build .pytest_cache
