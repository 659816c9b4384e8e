# Every target installs into .venv first, so a fresh clone needs nothing else.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Two more for `make test-compat`: the oldest versions setup.py allows, and Keras + JAX without
# TensorFlow. Each venv ignores itself in git (its own .gitignore).
COMPAT_VENV   := .venv-compat
COMPAT_PY     := $(COMPAT_VENV)/bin/python
COMPAT_STAMP  := $(COMPAT_VENV)/.installed
NOTF_VENV     := .venv-keras-only
NOTF_PY       := $(NOTF_VENV)/bin/python
NOTF_STAMP    := $(NOTF_VENV)/.installed
OLDEST        := tests/compat/oldest.txt
# The golden values, Keras integration (XLA, bfloat16, saving, MirroredStrategy), one tiny
# training run with its export, and the tensorflow-datasets reader.
COMPAT_TESTS  := tests/spl_tf_tests/test_golden.py tests/spl_tf_tests/test_keras_integration.py \
                 tests/applications_tests/test_pix2pix_e2e.py::test_exported_model_takes_any_size \
                 tests/applications_tests/test_srresnet.py::test_tfds_source_with_mock_data
NOTF_TESTS    := $(addprefix tests/spl_tf_tests/,test_import_without_tensorflow.py test_golden.py)

.PHONY: install demo docs test test-quick test-slow test-compat test-compat-oldest test-compat-keras-only bench mutants clean

install: $(STAMP)

$(STAMP): setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,jax,fcc,docs]"
	touch $(STAMP)

# The main job on built-in data: edges -> photo with SPL alone, into demo_output/.
demo: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m applications.pix2pix.demo --output_dir=demo_output

# The documentation site (mkdocs.yml, docs/) into site/, warnings as errors: every link, anchor
# and API name must resolve. `make test` builds it too (tests/test_docs.py).
# NO_MKDOCS_2_WARNING: mkdocs-material's banner about MkDocs 2, not a warning of this site.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir site

# TF_CPP_MIN_LOG_LEVEL: keep TensorFlow's C++ start-up chatter out of the report.
# --dist loadfile: each worker takes whole test files, the next one when it is free, so a
# module's fixture (a trained run, a built dataset) is made once; in the order of
# tests/conftest.py, longest first (--no-loadscope-reorder: not the most tests first).
# -m "not slow": the tests marked slow (minutes each) are `make test-slow`'s.
test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder \
	  -m "not slow" tests

# For an edit loop (about a minute): the library's values, options and input checks on
# TensorFlow, without the runs under JAX, the trainers or FCC.
test-quick: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m pytest -n 2 -m "not slow and not jax_rerun" \
	  $(addprefix tests/spl_tf_tests/,test_golden.py test_losses.py test_validation.py \
	    test_metrics.py test_near_grey.py)

# The tests marked slow (about 10 minutes on 2 cores), the long end-to-end, memory and
# benchmark runs that would take `make test` past 20 minutes: the full `make demo` against
# the README's figures and its short run, the golden values on JAX under XLA's default
# settings, the chain of kills of a training run, six of the nine kills of the FCC tools,
# data parallel across processes, the mirrored strategy with bfloat16 (pix2pix,
# adversarial), the notebook on CPU and a simulated TPU, predict's and FID's peak memory,
# the GAN benchmark's smoke run.
# --no-loadscope-reorder: in the order of tests/conftest.py, longest first.
test-slow: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) -m pytest -n 2 --dist loadfile --no-loadscope-reorder \
	  -m slow tests

# The oldest allowed versions, then spl_tf on Keras + JAX with no TensorFlow installed.
# (TensorFlow 2.16 has wheels up to Python 3.12: give PYTHON=python3.12 on a newer system.)
test-compat: test-compat-oldest test-compat-keras-only

test-compat-oldest: $(COMPAT_STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(COMPAT_PY) -m pytest -p no:cacheprovider $(COMPAT_TESTS)

test-compat-keras-only: $(NOTF_STAMP)
	KERAS_BACKEND=jax JAX_PLATFORMS=cpu \
	  $(NOTF_PY) -m pytest -p no:cacheprovider $(NOTF_TESTS)

# Built from scratch whenever setup.py or the pins change, so nothing stale is left in it.
$(COMPAT_STAMP): setup.py pyproject.toml $(OLDEST)
	rm -rf $(COMPAT_VENV)
	$(PYTHON) -m venv $(COMPAT_VENV)
	echo '*' > $(COMPAT_VENV)/.gitignore
	$(COMPAT_PY) -m pip install --quiet --upgrade pip
	$(COMPAT_PY) -m pip install --quiet -c $(OLDEST) -e ".[test]"
	touch $(COMPAT_STAMP)

# Keras, JAX and NumPy at their oldest, spl_tf without its dependencies; then make sure
# TensorFlow really is absent.
$(NOTF_STAMP): setup.py pyproject.toml $(OLDEST)
	rm -rf $(NOTF_VENV)
	$(PYTHON) -m venv $(NOTF_VENV)
	echo '*' > $(NOTF_VENV)/.gitignore
	$(NOTF_PY) -m pip install --quiet --upgrade pip
	$(NOTF_PY) -m pip install --quiet -c $(OLDEST) keras "jax[cpu]" numpy pytest
	$(NOTF_PY) -m pip install --quiet --no-deps -e .
	! $(NOTF_PY) -c "import tensorflow" 2>/dev/null
	touch $(NOTF_STAMP)

# Each mutant of tests/mutants.py (a deliberate bug) on a scratch copy, with the tests that
# must catch it: a table of caught / survived. Not part of `make test` (tens of minutes).
mutants: $(STAMP)
	$(PY) tests/mutants.py

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) benchmarks/losses.py
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) benchmarks/train_step.py
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) benchmarks/gan.py
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) benchmarks/sr.py
	$(PY) benchmarks/fcc.py

clean:
	rm -rf $(VENV) $(COMPAT_VENV) $(NOTF_VENV) build *.egg-info .pytest_cache demo_output site
