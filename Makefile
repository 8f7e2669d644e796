# The two commands of the README's quick start:
#   make run    the main job: the seed walk-through examples/seed_tutorial.py (creates .venv and
#               builds the extension when needed)
#   make test   lint + the test suite (same set-up)
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.phasic-built
NATIVE := pyproject.toml CMakeLists.txt $(wildcard src/cpp/*.cpp src/cpp/*.hpp) tools/setup_env.sh

.PHONY: run test bench bench-deps lint docs

$(STAMP): $(NATIVE)
	bash tools/setup_env.sh
	touch $@

run: $(STAMP)
	cd examples && MPLBACKEND=module://_save_figures ../$(PY) seed_tutorial.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench examples generate_slurm_script.py --exclude examples/seed_tutorial.py
	$(VENV)/bin/ruff format --check src tests bench examples generate_slurm_script.py --exclude examples/seed_tutorial.py
	$(VENV)/bin/mypy

test: lint
	$(PY) -m pytest -q

docs: $(STAMP)
	$(PY) -m pdoc phasic phasic.graph phasic.jax phasic.inference phasic.distributed phasic.cluster --docformat numpy -o build/docs

bench: $(STAMP)
	$(PY) bench/bench_moments.py

# Bench-only comparison packages in their own tree, never phasic's dependencies
bench-deps: $(STAMP)
	$(VENV)/bin/pip install -q --target .bench-deps moments-popgen demes
