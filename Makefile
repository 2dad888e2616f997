# The two commands of the README:
#   make demo   set everything up, then inspect the bundled fixtures
#   make test   set everything up, then run the test suite
PY := .venv/bin/python
BPFI := .venv/bin/bpfinspect

.PHONY: setup demo test bench fixtures fuzz clean

setup:
	@scripts/setup.sh

demo: setup
	@for o in fixtures/bootstrap.bpf.o fixtures/maps.bpf.o; do \
		echo "### bpfinspect info $$o"; $(BPFI) info $$o; echo; \
		echo "### bpfinspect progs $$o"; $(BPFI) progs $$o; echo; \
		echo "### bpfinspect maps $$o"; $(BPFI) maps $$o; echo; \
		echo "### bpfinspect globals $$o"; $(BPFI) globals $$o; echo; \
	done
	@for o in fixtures/*.bpf.o; do $(BPFI) info --json $$o >/dev/null || exit 1; done
	@echo "all fixtures inspected"

# -P: the tests import the install (its compiled engine, as users run it), not the checkout;
# tests/test_compiled.py compares it with the checkout's source engine.
test: setup
	$(PY) -P -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py $(BENCH)

fixtures: setup
	fixtures/build.sh

# Fuzz every parser FUZZ_TIME seconds each; crashes land in build/fuzz/<target>-crash-*
# (re-run one: $(PY) tests/fuzz/fuzz_<target>.py build/fuzz/<target>-crash-...)
FUZZ_TIME ?= 60
FUZZ_TARGETS ?= obj disasm asm btf skel dwarf
fuzz: setup
	@$(PY) -c 'import atheris' 2>/dev/null || .venv/bin/pip install -q atheris || echo "no atheris: Hypothesis driver"
	@mkdir -p build/fuzz
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "### fuzz $$t ($(FUZZ_TIME) s)"; mkdir -p build/fuzz/corpus-$$t; \
		$(PY) tests/fuzz/fuzz_$$t.py -max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 -timeout=10 \
			-workers=1 -artifact_prefix=build/fuzz/$$t- build/fuzz/corpus-$$t; \
	done

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache
