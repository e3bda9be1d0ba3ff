# Two commands do everything on a fresh machine with Python 3.11 and Java 17:
#   make serve   install what is missing, start the service with the default model on 127.0.0.1:8000
#   make test    install what is missing, run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test lint check-python check-java browser benchmarks clean

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "Python 3.11 is required (found: $$($(PYTHON) --version 2>&1)); install python3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }

check-java:
	@command -v java >/dev/null 2>&1 || { echo "konlpy needs a Java runtime (17+): apt-get install openjdk-17-jre-headless"; exit 1; }

$(BIN)/.runtime: requirements.txt | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

$(BIN)/.dev: requirements-dev.txt requirements-kiwi.txt $(BIN)/.runtime
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $@

# The browser test needs Debian's chromium (no browser download works here) and a Hangul font.
browser:
	@if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi nanum; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and fonts-nanum for the browser test"; \
	  (apt-get install -y -q chromium fonts-nanum >/dev/null 2>&1 || \
	   (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium fonts-nanum >/dev/null 2>&1)) || \
	  echo "could not install chromium: the browser test will be skipped"; \
	else echo "chromium not installed and not root: the browser test will be skipped"; fi

serve: $(BIN)/.runtime check-java
	$(BIN)/python -m app --host $(HOST) --port $(PORT)

test: $(BIN)/.dev check-java browser
	$(BIN)/python -m pytest

lint: $(BIN)/.dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

benchmarks: $(BIN)/.dev check-java
	$(BIN)/python -m benchmarks.inference

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
