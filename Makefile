# The two commands of the README: `make demo` runs the pipeline, `make test` checks it.
# Both install what they need on a fresh Debian machine (apt packages, a venv).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test check deps venv bench bench-figures clean

demo: deps
	$(VENV)/bin/coldchain up

test: deps
	scripts/check
	scripts/test

check: venv
	scripts/check

# Every figure docs/operations.md quotes, each printed by the command shown beside it there
# (about 25 minutes). taskset: the whole pipeline (broker, ingest, InfluxDB and the
# publishing gateways) on one core, the per-core figure. `time` prints the run time.
bench: deps
	time $(MAKE) --no-print-directory bench-figures

bench-figures:
	$(PY) -m benchmarks.bench_ingest
	$(PY) -m benchmarks.bench_ingest --workers 2
	taskset -c 0 $(PY) -m benchmarks.bench_ingest
	$(PY) -m benchmarks.bench_downsampling
	$(PY) -m benchmarks.bench_simulator
	$(PY) -m benchmarks.bench_detector throughput
	$(PY) -m benchmarks.bench_detector service
	$(PY) -m benchmarks.bench_detector latency
	$(PY) -m benchmarks.bench_budget
	$(PY) -m benchmarks.bench_export
	$(PY) -m benchmarks.bench_api

deps: venv
	@missing=""; \
	for bin in mosquitto:mosquitto mosquitto_pub:mosquitto-clients influxd:influxdb \
	           chromium:chromium chromedriver:chromium-driver \
	           docker-compose:docker-compose systemd-analyze:systemd git:git; do \
	  command -v $${bin%%:*} >/dev/null || [ -x /usr/sbin/$${bin%%:*} ] || missing="$$missing $${bin##*:}"; \
	done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

clean:
	rm -rf var .mypy_cache .ruff_cache .pytest_cache
