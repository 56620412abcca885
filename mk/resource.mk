# Adding a resource and removing the users example, one command each.
# Included by the root Makefile, which sets SHELL, .SHELLFLAGS and CARGO.
# What each writes is listed in ARCHITECTURE.md ("Adding a resource",
# "Removing the example").

PYTHON ?= python3

.PHONY: resource
resource: ## Add a CRUD resource: make resource NAME=orders [SINGULAR=order] (then make lint test)
	@[[ -n "$(NAME)" ]] || { echo "usage: make resource NAME=orders (a plural, snake or kebab case)" >&2; exit 2; }
	$(PYTHON) scripts/resource/add.py "$(NAME)" "$(SINGULAR)"
	$(CARGO) fmt --all
	$(MAKE) prepare

.PHONY: drop-example
drop-example: tool-sqlx ## Remove the users example: code, migration, tests, docs (then make lint test)
	$(PYTHON) scripts/resource/drop_example.py
	$(CARGO) fmt --all
	$(MAKE) prepare
