# Every target installs into .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,jax,fcc]"
	touch $(STAMP)

# The main job on built-in data: edges -> photo with SPL alone, into demo_output/.
demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m applications.pix2pix.demo --output_dir=demo_output

# TF_CPP_MIN_LOG_LEVEL: keep TensorFlow's C++ start-up chatter out of the report.
test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m pytest -n 2 tests

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) benchmarks/losses.py
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) benchmarks/train_step.py
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) benchmarks/sr.py
	$(PY) benchmarks/fcc.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo_output
