# make demo: set up .venv on first use and run the offline demo; make test: ruff, then the test suite.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV := $(VENV)/.installed-dev

.PHONY: demo test mutation setup clean

setup: $(STAMP)

# convis itself (what the demo needs); the test tools come on top of it for make test
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e .
	touch $(STAMP)

$(DEV): $(STAMP)
	$(PY) -m pip install -q -e ".[dev]"
	touch $(DEV)

demo: $(STAMP)
	WANDB_MODE=$${WANDB_MODE:-offline} $(PY) scripts/demo.py

test: $(DEV)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	OMP_NUM_THREADS=1 WANDB_MODE=disabled $(PY) -m pytest -q -n 2 --dist loadfile

# mutation testing (the mutation extra): each core module group against its own tests; not part of `make test`
mutation: $(DEV)
	$(PY) -m pip install -q -e ".[mutation]"
	$(PY) scripts/mutation.py $(MUTATION_ARGS)

clean:
	rm -rf outputs multirun .pytest_cache
