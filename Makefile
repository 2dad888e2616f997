# The two commands of the README:
#   make demo   set everything up, then inspect the bundled fixtures
#   make test   set everything up, then run the test suite
PY := .venv/bin/python
BPFI := .venv/bin/bpfinspect

.PHONY: setup demo test bench fixtures clean

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

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: setup
	$(PY) bench/run.py

fixtures: setup
	fixtures/build.sh

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache
