# Two commands: `make run` (set-up + the main job) and `make test` (set-up + ruff + mypy + pytest).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.archspec-installed

.PHONY: run test lint setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	@echo "installing archspec and its dependencies into $(VENV) (torch's CPU build among them: a few minutes the first time)"
	# -qq: errors only; compat: a plain path in the .pth file, which mypy and pyright follow (an import hook they do not)
	$(PY) -m pip install -qq --disable-pip-version-check -c constraints.txt --config-settings editable_mode=compat -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m archspec validate archspec/specs/*.yaml
	$(PY) -m archspec summary d2l-resnet18 --depth 2
	$(PY) -m archspec trace d2l-resnet18
	@echo "--- a short training run on the bundled Fashion-MNIST sample (not the full dataset) ---"
	$(PY) -m archspec train fashion-resnet --recipe fashion-best --data-dir sample --max-train 1000 --max-test 500 \
		--set epochs=2 --quiet

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) tools/check_cycles.py  # no import cycle inside a layer either (lazy and TYPE_CHECKING imports counted)

test: lint
	# one worker per core (at most 4), one torch thread each (tests/conftest.py); a file's tests share a worker
	$(VENV)/bin/pytest -q -n auto --maxprocesses 4 --dist loadfile

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
