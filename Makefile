# tinyml-pipeline. `make demo` runs the pipeline on the bundled data, `make test` the tests; both
# set up everything first (Debian packages where possible, .venv, the package).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SETUP_STAMP := $(VENV)/.setup-done
# make demo runs the whole pipeline: train (into build/, so the committed models stay as they
# are; SKIP_TRAIN=1 takes the committed models instead), convert to C, build the QEMU image from
# those sources, and validate all three models on their full test sets through two emulators.
DEMO_BUILD := build/demo
DEMO_MODELS ?= $(DEMO_BUILD)/models
MODELS := linear digits activity

ifeq ($(SKIP_TRAIN),1)
DEMO_DIR := models
else
DEMO_DIR := $(DEMO_MODELS)
endif

.PHONY: all setup demo test lint models firmware-models bench clean

all: test

$(SETUP_STAMP): pyproject.toml scripts/install-system-deps.sh
	scripts/install-system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

setup: $(SETUP_STAMP)

demo: $(SETUP_STAMP)
ifneq ($(SKIP_TRAIN),1)
	@for model in $(MODELS); do \
	  $(BIN)/tinyml train $$model --out $(DEMO_DIR)/$$model || exit $$?; \
	done
endif
	rm -rf $(DEMO_BUILD)/firmware-models
	@for model in $(MODELS); do \
	  $(BIN)/tinyml convert $(DEMO_DIR)/$$model/model.tflite \
	    --out $(DEMO_BUILD)/firmware-models || exit $$?; \
	done
	$(BIN)/tinyml firmware build --target qemu --models-dir $(DEMO_BUILD)/firmware-models \
	  --build-dir $(DEMO_BUILD)/qemu
	$(BIN)/tinyml validate --model all --emulator qemu --jobs 2 --models-dir $(DEMO_DIR) \
	  --image $(DEMO_BUILD)/qemu/tinyml-qemu.elf --report $(DEMO_BUILD)/validation

test: $(SETUP_STAMP)
	$(BIN)/python -m pytest

# BENCHMARKS.md: cost, flash and RAM of the committed models and of public model shapes built by
# the TFLite converter, the validation throughput over the emulated link, the training times.
# Generated (it holds this machine's timings), so not committed.
bench: $(SETUP_STAMP)
	$(BIN)/python benchmarks/bench_suite.py --out BENCHMARKS.md

lint: $(SETUP_STAMP)
	$(BIN)/ruff check training tools tests benchmarks

# Retrain the committed default models in place (then review and commit the changes).
models: $(SETUP_STAMP)
	@for model in $(MODELS); do $(BIN)/tinyml train $$model || exit $$?; done

# Regenerate the firmware's C sources (firmware/lib/models/) from the committed models.
firmware-models: $(SETUP_STAMP)
	@for model in $(MODELS); do $(BIN)/tinyml convert models/$$model/model.tflite || exit $$?; done

clean:
	rm -rf build .pytest_cache
