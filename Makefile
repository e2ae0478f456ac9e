# Two commands do all the set-up on a fresh machine (README):
#   make demo   create .venv, install hyperspec (no napari), run the main job on a synthetic map
#   make napari install napari and the plugin, open make demo's results in the viewer
#   make test   install the Debian packages of a headless Qt viewer (Xvfb; .ci/qt-system-packages.sh),
#               create .venv, install hyperspec[test] and the napari plugin with napari, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hyperspec-installed
CORE   := $(VENV)/.hyperspec-core-installed

.PHONY: demo test lint install clean system-packages napari

$(STAMP): pyproject.toml plugins/napari-hyperspec/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -e "plugins/napari-hyperspec[test]"
	touch $(STAMP)

# the demo needs hyperspec alone (no napari, no Qt)
$(CORE): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(CORE)

install: $(STAMP)

demo: $(CORE)
	$(BIN)/hyperspec demo --overwrite

# napari on make demo's output: the results (band maps, status) with the map behind them, two widgets docked
napari: $(STAMP)
	test -d hyperspec-demo/results.zarr || $(BIN)/hyperspec demo
	$(BIN)/napari --plugin napari-hyperspec hyperspec-demo/results.zarr -w napari-hyperspec "Spectrum inspector" "Band maps"

system-packages:
	bash .ci/qt-system-packages.sh

# pytest exits 5 when it collects no test (e.g. a -k filter matching nothing): report it, do not fail.
# pytest-xdist: one worker per core; worksteal gives each worker a contiguous half of the tests (a file's
# module fixtures are built once, again only where a steal splits the file) and an idle worker takes half of
# the other's queue, so the run ends within about one test of balanced (loadfile can leave one worker idle
# behind the last big file); the 25 slowest listed. First two processes compile the numba kernels into their
# on-disk cache (fit | baseline, tests/warm_kernels.py): on a fresh clone both workers would compile the same ones
test: system-packages $(STAMP)
	@$(BIN)/python -m tests.warm_kernels fit & $(BIN)/python -m tests.warm_kernels baseline & wait
	@$(BIN)/python -m pytest -n auto --dist worksteal --durations=25 $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check hyperspec tests benchmarks plugins kernels
	$(BIN)/ruff format --check hyperspec tests benchmarks plugins kernels

clean:
	rm -rf $(VENV) hyperspec-demo .pytest_cache
