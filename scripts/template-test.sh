#!/usr/bin/env bash
# `make template-test`: generates a project from this template the way a user
# would (`cargo generate --path ... --name ...`), checks that it carries its
# own name everywhere, then runs the project's own `make lint` and
# `make test`.
#
# mk/template.mk sets the environment:
#   CARGO_GENERATE      the pinned cargo-generate
#   TEMPLATE_TEST_NAME  the new project's name
#   TEMPLATE_TEST_DIR   receives the project, in a folder of its name
#                       (replaced at each run, kept afterwards)
#   CARGO_TARGET_DIR    the project's own target directory, seeded with
#                       the dependencies already compiled in
#   SEED_TARGET_DIR     the template's target directory
#   TOOLS_DIR           the template's .tools/: the project's checks reuse
#                       the checkers installed there
#   PG_SERVER, REDIS_URL_LOCAL  the servers of the project's lint and tests
set -euo pipefail

cd "$(dirname "$0")/.."

: "${CARGO_GENERATE:?}" "${TEMPLATE_TEST_NAME:?}" "${TEMPLATE_TEST_DIR:?}"
: "${CARGO_TARGET_DIR:?}" "${SEED_TARGET_DIR:?}" "${TOOLS_DIR:?}" "${PG_SERVER:?}" "${REDIS_URL_LOCAL:?}"
export CARGO_TARGET_DIR

old=bulkhead
name=$TEMPLATE_TEST_NAME
# cargo-generate's crate_name: the database names use it.
snake=${name//-/_}
project=$TEMPLATE_TEST_DIR/$name

started=$SECONDS
step() { printf '\n==> [%ds] %s\n' "$((SECONDS - started))" "$*"; }
fail() {
    printf 'template-test: %s\n' "$*" >&2
    exit 1
}

git rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
    fail "needs a git working copy: it generates from the files git tracks or would track"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/template

step "snapshot of the working tree: tracked and untracked files, not the ignored ones (what a commit would hold)"
mkdir "$src"
git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' file; do
        if [[ -e $file ]]; then printf '%s\0' "$file"; fi
    done |
    tar --null -T - -cf - | tar -xf - -C "$src"

# The project's Cargo.lock is the template's, renamed: it can only be as
# current as the template's.
(cd "$src" && cargo metadata --locked --format-version 1 >/dev/null) ||
    fail "the template's own Cargo.lock is not current: a cargo build (e.g. make lint) updates it"

# The project cannot build in the template's own target directory: cargo
# names a workspace crate's output after its path relative to the workspace
# root, which is the same in both workspaces, so each build would overwrite
# the other's crates and leave stale ones behind. Instead the project's
# target directory gets hard links to the template's compiled dependencies
# (registry crates, never rebuilt while their fingerprints hold), and only
# the workspace's own crates compile. Nothing in the template's directory is
# written.
step "seed $CARGO_TARGET_DIR with the dependencies compiled in $SEED_TARGET_DIR"
workspace_crates=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json, sys
names = set()
for p in json.load(sys.stdin)["packages"]:
    names.add(p["name"])
    names.update(t["name"] for t in p["targets"])
print(" ".join(sorted({n for name in names for n in (name, name.replace("-", "_"))})))')
is_workspace_crate() {
    local crate=$1 known
    for known in $workspace_crates; do
        [[ $crate == "$known" ]] && return 0
    done
    return 1
}
for profile in debug; do
    [[ -d $SEED_TARGET_DIR/$profile ]] || continue
    for dir in deps .fingerprint build; do
        [[ -d $SEED_TARGET_DIR/$profile/$dir ]] || continue
        mkdir -p "$CARGO_TARGET_DIR/$profile/$dir"
        for entry in "$SEED_TARGET_DIR/$profile/$dir"/*; do
            [[ -e $entry ]] || continue
            base=${entry##*/}
            base=${base#lib}
            is_workspace_crate "${base%-*}" && continue
            [[ -e $CARGO_TARGET_DIR/$profile/$dir/${entry##*/} ]] && continue
            cp -al "$entry" "$CARGO_TARGET_DIR/$profile/$dir/"
        done
    done
done

step "cargo generate --name $name into $TEMPLATE_TEST_DIR"
rm -rf "$project"
mkdir -p "$TEMPLATE_TEST_DIR"
# An empty configuration: the user's favorites and defaults do not apply.
: >"$tmp/cargo-generate.toml"
"$CARGO_GENERATE" generate --config "$tmp/cargo-generate.toml" \
    --path "$src" --name "$name" --destination "$TEMPLATE_TEST_DIR" \
    --silent --allow-commands --vcs none --no-workspace
[[ -f $project/Cargo.toml ]] || fail "cargo generate did not create $project"

step "nothing names the template, except the line saying where the project came from"
mentions=$(grep -r -i -n --exclude-dir=.git --exclude-dir=target "$old" "$project" || true)
printf '%s\n' "$mentions"
if [[ $(grep -c . <<<"$mentions") -ne 1 || $mentions != *"generated from the $old template"* ]]; then
    fail "expected exactly one mention of \"$old\" (the \"generated from\" line in README.md)"
fi
paths=$(find "$project" -path "$project/target" -prune -o -iname "*$old*" -print)
[[ -z $paths ]] || fail "file names still say \"$old\": $paths"

step "nothing of the template's own machinery is left"
for path in cargo-generate.toml template mk/template.mk scripts/template-test.sh; do
    [[ ! -e $project/$path ]] || fail "$path is still there"
done
refs=$(grep -r -n --exclude-dir=.git --exclude-dir=target \
    -e 'template-test' -e 'mk/template\.mk' -e 'template/post\.rhai' -e 'template/rename\.sh' \
    "$project" || true)
[[ -z $refs ]] || fail "the project still refers to the template's own targets or files:"$'\n'"$refs"
bash -n "$project/.ci/run" || fail ".ci/run is no longer a valid script"

step "no file went through Liquid: every {{ ... }} line is still there"
# Per file, the number of lines holding "{{", in the template (under the
# names the project gives its files) and in the project.
braces() { grep -r -c -F '{{' "$@" . | grep -v ':0$' | LC_ALL=C sort || true; }
expected=$(cd "$src" && braces --exclude-dir=template --exclude=cargo-generate.toml \
    --exclude=template.mk --exclude=template-test.sh | sed "s/${old}/${name}/g")
actual=$(cd "$project" && braces --exclude-dir=.git --exclude-dir=target)
diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") ||
    fail "lines holding {{ differ between the template and the project (Liquid rendered a file?)"
printf '%s\n' "$actual"

step "its databases are its own: $snake, ${snake}_sqlx, ${snake}_test_<uuid>"
grep -q "^DATABASE_URL=postgres://[^ ]*/${snake}\$" "$project/.env.example" ||
    fail ".env.example's DATABASE_URL does not name the database $snake"
grep -q "/${snake}_sqlx\$" "$project/Makefile" ||
    fail "the Makefile's sqlx check does not use ${snake}_sqlx"
grep -q "\"${snake}_test_{}\"" "$project/crates/app/tests/api/helpers/database.rs" ||
    fail "the tests do not name their databases ${snake}_test_<uuid>"

step "Cargo.lock is current for the renamed package (cargo metadata --locked)"
(cd "$project" && cargo metadata --locked --format-version 1 >/dev/null)

in_project() { (cd "$project" && make "$@" PG_SERVER="$PG_SERVER" REDIS_URL_LOCAL="$REDIS_URL_LOCAL" TOOLS_DIR="$TOOLS_DIR"); }

# The project is checked as a user takes it: with a resource of their own
# added, then without the example. The first lint and test also cover the
# project as generated, since adding a resource changes none of its tests.
step "make resource NAME=orders in $project"
in_project resource NAME=orders
# The sample it copies from is `widgets` (scripts/resource/files).
leftover=$(grep -r -n -i -E 'widgets?' "$project/crates" "$project/migrations" || true)
[[ -z $leftover ]] || fail "the new resource still names the sample it was copied from:"$'\n'"$leftover"
[[ -f $project/crates/service/src/orders.rs && -f $project/crates/app/tests/api/orders.rs ]] ||
    fail "make resource wrote no orders module or tests"

step "make lint in $project (with orders)"
in_project lint

step "make test in $project (with orders)"
in_project test

step "make drop-example in $project"
in_project drop-example
# What names the example: its types, its table and routes, its events.
example='\busers\b|\bUsers\b|\bUser[A-Z][A-Za-z]*|\buser\.(created|updated|deleted)\b|\buser_id\b'
named=$(grep -r -n -E "$example" --include='*.rs' --include='*.sql' \
    --exclude-dir=.git --exclude-dir=target "$project" || true)
[[ -z $named ]] || fail "Rust or SQL files still name the users example:"$'\n'"$named"
[[ -f $project/crates/service/src/orders.rs ]] || fail "make drop-example removed the orders resource"

step "make lint in $project (without the example)"
in_project lint

step "make test in $project (without the example)"
in_project test

step "the binary is $name and says so"
bin=$CARGO_TARGET_DIR/debug/$name
version=$("$bin" --version)
printf '%s\n' "$version"
[[ $version == "$name "* ]] || fail "$bin --version does not start with \"$name\""
help=$("$bin" --help)
for variable in CACHE_KEY_PREFIX OTEL_SERVICE_NAME; do
    grep -q -F "$variable [default: $name]" <<<"$help" ||
        fail "$variable does not default to $name"
done

step "template-test: ok ($name generated, checked, linted and tested in $((SECONDS - started))s)"
