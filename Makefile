# One entry point for people and CI. `make demo` and `make test` work on a fresh machine
# with only Python 3.10+ and make: they create .venv and install what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip

.PHONY: setup peers browser serve demo test lint typecheck wheel-check bench clean lock docs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch first, pinned: on this machine 2.13.0 is a local CPU build; anything else pulls CUDA
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[all,test,dev,docs]"
	touch $@

demo: setup  ## run the main job on the bundled example data
	$(BIN)/brainbridge example run --out example-output

test: setup peers lint typecheck  ## lint, type check, then the whole test suite (what CI runs)
	$(BIN)/python -m pytest -q

# Debian's chromium and chromium-driver for the browser tests of `brainbridge serve`
# (tests/web/test_browser.py); installed with apt (as root) only when missing
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then \
		echo "chromium and chromedriver are installed"; \
	else \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi

serve: setup  ## the read-only web app on the bundled example (http://127.0.0.1:8765/)
	$(BIN)/brainbridge serve

# BrainIO 1.1 in its own venv (it needs numpy<2, pandas<3): the interoperability tests run our
# files through it. An install failure stops `make test` with pip's error (no silent skip).
PEER_BRAINIO := benchmarks/_work/brainio-venv
peers: $(PEER_BRAINIO)/.installed

$(PEER_BRAINIO)/.installed:
	$(PYTHON) -m venv $(PEER_BRAINIO)
	$(PEER_BRAINIO)/bin/python -m pip install -q brainscore-brainio==1.1.0 "numpy<2" "pandas<3"
	touch $@

# The documentation site in build/site: README, docs/, the API reference from the docstrings and
# the tutorials, executed. Only runs mkdocs once the venv has it (it installs the venv otherwise).
docs:  ## the documentation site (build/site)
	@test -x $(BIN)/mkdocs || $(MAKE) setup
	BRAINBRIDGE_DOCS_EXECUTE=true $(BIN)/mkdocs build --strict
	@echo "open build/site/index.html"

lint: setup  ## ruff's rules, then the formatter's check (line length 110, enforced)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

# mypy over src/ with the settings of [tool.mypy] in pyproject.toml (stubs from the dev extra)
typecheck: setup
	$(BIN)/python -m mypy

# The wheel and sdist build, and the wheel installs with the core dependencies alone and runs.
WHEEL_VENV := build/wheel-check-venv
wheel-check: setup
	rm -rf build/dist $(WHEEL_VENV)
	$(BIN)/python -m build -q --outdir build/dist .
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/python -m pip install -q -c constraints.txt build/dist/*.whl
	cd build && wheel-check-venv/bin/brainbridge --help > /dev/null
	cd build && wheel-check-venv/bin/python -c "import brainbridge, importlib.metadata as m; \
		assert m.version('brainbridge') == brainbridge.__version__; print('wheel ok', brainbridge.__version__)"
	cd build && wheel-check-venv/bin/python -c "import importlib.resources as r; web = r.files('brainbridge') / 'web'; \
		assert (web / 'templates' / 'base.html').is_file() and (web / 'static' / 'style.css').is_file(), 'web assets'"

bench: setup  ## benchmarks against peer tools (slow; not part of the tests)
	$(BIN)/python benchmarks/run_all.py $(BENCH)

clean:
	rm -rf $(VENV) example-output .pytest_cache

lock:  ## refresh constraints.txt from the current .venv
	{ sed -n '1,3p' constraints.txt; $(PIP) freeze --exclude-editable | grep -v '^brainbridge'; } > constraints.tmp && mv constraints.tmp constraints.txt
