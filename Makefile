# Two commands: `make run` (main job, default suite) and `make test` (test suite).
# Each creates or refreshes the local virtual environment first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
OUT    ?= results
STAMP   = $(VENV)/.installed

.PHONY: run test venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/mlem-bench run --out $(OUT) --resume

test: $(STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/asv check --python=same
	$(BIN)/asv machine --yes >/dev/null
	$(BIN)/asv run --python=same --quick --show-stderr --dry-run

clean:
	rm -rf $(VENV) $(OUT) .asv
