# Two commands do all the set-up on a fresh machine (README):
#   make demo   create .venv, install hyperspec, run the main job on a synthetic map
#   make test   create .venv, install hyperspec[test] and the napari plugin, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.hyperspec-installed

.PHONY: demo test lint install clean

$(STAMP): pyproject.toml plugins/napari-hyperspec/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]" -e plugins/napari-hyperspec
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/hyperspec demo --overwrite

# pytest exits 5 when it collects no test (e.g. a -k filter matching nothing): report it, do not fail.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)"; exit 0; fi; exit $$rc

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check hyperspec tests benchmarks plugins kernels
	$(BIN)/ruff format --check hyperspec tests benchmarks plugins kernels

clean:
	rm -rf $(VENV) hyperspec-demo .pytest_cache
