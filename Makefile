# make demo: set up .venv on first use and run the offline demo; make test: ruff, then the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV := $(VENV)/.installed-dev
# the strict editable install links each module of src/ into build/: a module added or removed needs it again
BROWSER := /usr/bin/chromedriver  # the microscope site's test drives Debian's Chromium
LINKS := $(VENV)/.links-$(shell find src -name '*.py' | sort | cksum | cut -d' ' -f1)

.PHONY: demo test mutation setup clean

setup: $(STAMP)

# convis itself (what the demo needs); the test tools come on top of it for make test
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e . --config-settings editable_mode=strict  # a path entry, not shadowed by a folder named convis where Python runs
	touch $(STAMP)

$(DEV): $(STAMP)
	$(PY) -m pip install -q -e ".[dev]" --config-settings editable_mode=strict
	touch $(DEV)

$(LINKS): $(STAMP)
	$(PY) -m pip install -q --no-deps -e . --config-settings editable_mode=strict
	touch $(LINKS)

demo: $(STAMP) $(LINKS)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PY) scripts/demo.py

$(BROWSER):
	apt-get install -y -q chromium chromium-driver || sudo apt-get install -y -q chromium chromium-driver

test: $(DEV) $(LINKS) $(BROWSER)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	OMP_NUM_THREADS=1 WANDB_MODE=disabled $(PY) -m pytest -q -n 2 --dist loadfile
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --quiet -d $${TMPDIR:-/tmp}/convis-site

# mutation testing (the mutation extra): each core module group against its own tests; not part of `make test`
mutation: $(DEV)
	$(PY) -m pip install -q -e ".[mutation]" --config-settings editable_mode=strict
	$(PY) scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
