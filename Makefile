# tinyml-pipeline. `make demo` runs the pipeline on the bundled data, `make test` the tests; both
# set up everything first (Debian packages where possible, .venv, the package).

# The ML stack is pinned for Python 3.11: python3 if that is 3.11, else python3.11 from PATH;
# PYTHON=/path/to/python3.11 chooses another.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell for candidate in python3 python3.11; do \
  [ "$$($$candidate -c 'import sys; print(sys.version_info[:2] == (3, 11))' 2>/dev/null)" = True ] \
  && command -v $$candidate && break; done)
endif
VENV := .venv
BIN := $(VENV)/bin
SETUP_STAMP := $(VENV)/.setup-done
# make demo runs the whole pipeline: train (into build/, so the committed models stay as they
# are; SKIP_TRAIN=1 takes the committed models instead), convert to C, build the QEMU image from
# those sources, and validate all three models on their full test sets through two emulators.
DEMO_BUILD := build/demo
DEMO_MODELS ?= $(DEMO_BUILD)/models
# The built-in models, from their one list (training/tasks.py); read when a recipe runs, after
# the set-up has made .venv.
MODELS = $(shell $(BIN)/python -m tinyml_pipeline.training.tasks)

ifeq ($(SKIP_TRAIN),1)
DEMO_DIR := models
else
DEMO_DIR := $(DEMO_MODELS)
endif

.PHONY: all setup demo test lint models firmware-models bench clean distclean check-python \
  fuzz fuzz-host fuzz-device fuzz-device-coverage fuzz-models

all: test

# A set-up that fails removes the half-made .venv, so the next run starts over instead of
# trusting it; the stamp is written only when everything installed.
$(SETUP_STAMP): pyproject.toml setup.py scripts/install-system-deps.sh | check-python
	scripts/install-system-deps.sh
	rm -rf $(VENV)
	{ $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet --upgrade pip \
	  && $(BIN)/pip install --quiet -e '.[dev]'; } || { rm -rf $(VENV); exit 1; }
	touch $@

check-python:
	@version=$$($(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
	if [ "$$version" != "3.11" ]; then \
	  echo "error: needs Python 3.11 (PYTHON=$(or $(PYTHON),none found) is $${version:-not runnable}); install python3.11 and run make PYTHON=/path/to/python3.11" >&2; \
	  exit 2; \
	fi

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

# Every fuzzer at its campaign length: the device core's two libFuzzer harnesses, the model
# mutator and the host decoders (about 2.5 hours of one core; `make -j2 fuzz` runs two at once).
# Each exits non-zero on a finding and saves its input under build/fuzz/; `make test` runs a
# smoke run of each.
fuzz: fuzz-device fuzz-models fuzz-host

# Model mutation fuzzing (fuzz/models.py): mutants of the committed and corpus models through
# tinyml convert, the accepted ones run in the host runner built with ASan and UBSan. Findings are
# saved under build/fuzz/models/; the summary is the last line.
FUZZ_MODELS_SECONDS ?= 3600
fuzz-models: $(SETUP_STAMP)
	$(BIN)/python -m fuzz.models --seconds $(FUZZ_MODELS_SECONDS)

lint: $(SETUP_STAMP)
	$(BIN)/ruff check training tools tests benchmarks fuzz

# The host-decoder fuzzer (fuzz/host.py): framing, every reply parser and Device over a fake
# device, for 10^6 executions (about 280 s of one core); findings go to build/fuzz/host/.
# `make test` runs a short smoke run of it (tests/test_fuzz_host.py).
fuzz-host: $(SETUP_STAMP)
	$(BIN)/python -m fuzz.host --count $(or $(FUZZ_HOST_COUNT),1000000)

# libFuzzer over the device core (firmware/fuzz/, fuzz/device.py): both harnesses, each for
# FUZZ_DEVICE_SECONDS, which at the ~2,300 executions a second one core gives here makes over
# 10^7 executions in all; a finding's input lands in build/fuzz/device_<target>/. Needs clang
# and its libFuzzer runtime (scripts/install-system-deps.sh installs them).
FUZZ_DEVICE_SECONDS ?= 2400
fuzz-device: $(SETUP_STAMP)
	$(BIN)/python -m fuzz.device --seconds $(FUZZ_DEVICE_SECONDS)

# Line coverage of framing.c, device.c, imu_modes.c and chunks.c by the seeds and the corpus
# fuzz-device accumulated.
fuzz-device-coverage: $(SETUP_STAMP)
	$(BIN)/python -m fuzz.device --coverage

# Retrain the committed default models in place (then review and commit the changes).
models: $(SETUP_STAMP)
	@for model in $(MODELS); do $(BIN)/tinyml train $$model || exit $$?; done

# Regenerate the firmware's C sources (firmware/lib/models/) from the committed models.
firmware-models: $(SETUP_STAMP)
	@for model in $(MODELS); do $(BIN)/tinyml convert models/$$model/model.tflite || exit $$?; done

clean:
	rm -rf build .pytest_cache
	@echo "removed build/ and .pytest_cache; kept .venv (make distclean removes it too), models/, firmware/lib/models/ and data/"

distclean: clean
	rm -rf $(VENV)
