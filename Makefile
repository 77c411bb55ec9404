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
	$(BIN)/python -m pip install --quiet -e '.[test,learned]'
	touch $(STAMP)

venv: $(STAMP)

# train the learned ladders of the default suite (kept when already trained), then sweep
run: $(STAMP)
	$(BIN)/mlem-bench train
	$(BIN)/mlem-bench run --out $(OUT) --resume

# The import-layer contract (pyproject.toml), then pytest and the quick asv pass side by
# side (two cores; each asv benchmark is a fresh process that spends most of its time
# compiling); all must pass.
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/asv check --python=same
	$(BIN)/asv machine --yes >/dev/null
	@mkdir -p .asv
	@$(BIN)/asv run --python=same --quick --show-stderr --dry-run > .asv/quick.log 2>&1 & asv=$$!; \
	$(BIN)/python -m pytest -q; tests=$$?; \
	wait $$asv; bench=$$?; cat .asv/quick.log; \
	echo "pytest exit $$tests, asv run exit $$bench"; test $$tests -eq 0 -a $$bench -eq 0

clean:
	rm -rf $(VENV) $(OUT) .asv
