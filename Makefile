# Two commands: `make run` (main job, default suite) and `make test` (test suite).
# Each creates or refreshes the local virtual environment first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
OUT    ?= results
# compiled kernels of this checkout, one folder per digest of the package source
# (mlem_bench/numerics/jit_cache.py); `make clean` removes them
export MLEM_BENCH_CACHE_DIR ?= $(CURDIR)/.cache/kernels

.PHONY: run test test-extended asymptote bench-quick mutate venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata changes: `run` needs the package and torch (the
# learned ladders), `test` the test tools too. --no-compile: Python compiles what it imports
# on first use, instead of pip compiling all of torch (about 30 s here).
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -e '.[learned]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test,learned]'
	touch $@ $(VENV)/.installed-run

venv: $(VENV)/.installed-test

# the default suite: its learned families ship with the package (mlem_bench/models/); a family
# neither there nor in models/ is trained first, beside the sweep of the cases that do not need it
run: $(VENV)/.installed-run
	$(BIN)/mlem-bench run --out $(OUT) --resume

# the asymptotic suite (docs/asymptotic.md): rates down to errors of 1e-5, about 40 min here
asymptote: $(VENV)/.installed-run
	$(BIN)/mlem-bench run --suite asymptotic --out results-asymptotic --resume

# The import-layer contract and `asv check` beside the kernel cache's warm-up (two
# processes), then pytest on two workers (one Numba and one OpenMP thread each).
test: $(VENV)/.installed-test
	@mkdir -p .cache; $(BIN)/mlem-bench warm > .cache/warm.log 2>&1 & warm=$$!; \
	$(BIN)/lint-imports && $(BIN)/asv check --python=same && $(BIN)/asv machine --yes >/dev/null; checks=$$?; \
	wait $$warm; warmed=$$?; cat .cache/warm.log; test $$checks -eq 0 -a $$warmed -eq 0
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=15 -m "not extended"

# The claims whose sweeps exceed make test's budget (tests marked `extended`: the adaptive
# pilot against the full one over the default suite's sweeps, about 3 minutes); CI runs it
# after `make test`. One process, both cores for Numba.
test-extended: $(VENV)/.installed-test
	$(BIN)/mlem-bench warm
	$(BIN)/python -m pytest -q -m extended

# Every asv benchmark once (a smoke run: timings belong to full asv runs, docs/performance.md);
# each is a fresh process that loads the cached kernels. CI runs it after `make test`.
bench-quick: $(VENV)/.installed-test
	$(BIN)/mlem-bench warm
	$(BIN)/asv machine --yes >/dev/null
	$(BIN)/asv run --python=same --quick --show-stderr --dry-run

# Mutation testing of the analysis and tuning layers (docs/testing.md, "Mutation testing";
# [tool.mutmut] in pyproject.toml), not part of `make test`: about 30 min on two cores. mutmut
# forks one process per mutant from the one that ran the tests, so the kernels (cached under
# the digest of mutants/'s source) compile once; Numba's workqueue threading layer because
# the OpenMP one terminates a forked child. Results are kept in mutants/ (a rerun only runs
# mutants without a result: `rm -rf mutants` for a fresh run).
mutate: $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test,learned,mutation]'
	NUMBA_THREADING_LAYER=workqueue nice -n 10 $(BIN)/mutmut run --max-children 2
	$(BIN)/python tools/mutation_score.py

clean:
	rm -rf $(VENV) $(OUT) results-asymptotic .asv .cache mutants
