# relnotes: two commands do the whole set-up on a fresh machine (Python 3.11, nothing installed).
#
#   make book    create .venv if needed, execute every notebook (PROFILE=cpu) whose inputs changed
#                since the last build (BOOK_ARGS=--no-cache: all of them), build _build/html
#   make test    create .venv if needed, run the tests (every notebook on the smoke profile)
#
# Other targets: test-cpu (the notebooks on the cpu profile, slow), references (rewrite the
# references of PROFILE; review and commit with the reason), clean.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PROFILE ?= cpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.relnotes-installed

.PHONY: book test test-cpu references env clean help
help:
	@sed -n '2,10p' Makefile

env: $(STAMP)
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[book,test]"
	# real tree-crown images for the duplicate-removal chapter; --no-deps skips its heavy
	# dependencies (lightning, albumentations, ...), of which relnotes uses none
	$(BIN)/python -m pip install --no-deps deepforest==2.1.0
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/python -m relnotes.repro book --profile $(PROFILE) $(BOOK_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

test-cpu: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m slow $(PYTEST_ARGS)

references: $(STAMP)
	$(BIN)/python -m relnotes.repro run --profile $(PROFILE) --update-references

clean:
	rm -rf _build book/_generated .pytest_cache
