#!/bin/sh
# Gives a project generated from this template its own name. template/post.rhai
# runs it from the new project's root, before `cargo generate` moves the
# project into place:
#
#   sh template/rename.sh <kebab-name> <snake_name> <PascalName> <SHOUTY_NAME>
#
# 1. Removes what only the template needs: its test target and script, the
#    CI job and the lines that run them, the README section about
#    `cargo generate`.
# 2. Replaces the template's name in every text file and in file names:
#      bulkhead_ (database names such as bulkhead_sqlx, bulkhead_test_...),
#      the database and user of a PostgreSQL URL       -> snake_name
#      Bulkhead (alert names)                          -> PascalName
#      BULKHEAD                                        -> SHOUTY_NAME
#      bulkhead (package, binary, image, Kubernetes
#      objects and labels, Prometheus job, titles)     -> kebab-name
# 3. Replaces the README's opening paragraph by the one line that still names
#    the template: where the project came from.
# 4. Moves the renamed package to its sorted place in Cargo.lock, where cargo
#    would write it, so `--locked` commands accept the file as it is.
# 5. Runs `cargo fmt --all`: a longer or shorter name moves some Rust lines
#    across rustfmt's limits.
#
# POSIX sh, sed, awk, grep and find (Linux, macOS, WSL), and cargo fmt.
set -eu

if [ $# -ne 4 ]; then
    echo "usage: $0 <kebab-name> <snake_name> <PascalName> <SHOUTY_NAME>" >&2
    exit 2
fi
name=$1 snake=$2 pascal=$3 shouty=$4
old=bulkhead

die() {
    echo "rename: $*" >&2
    exit 1
}

case $name in
    "" | [!a-z]* | *[!a-z0-9-]* | *- | *--*)
        die "\"$name\" must be lowercase letters, digits and single dashes, starting with a letter"
        ;;
esac
[ ${#name} -le 25 ] || die "\"$name\" is longer than 25 characters"
[ -f Cargo.toml ] && [ -f Cargo.lock ] && [ -f template/rename.sh ] ||
    die "run from the root of the generated project"
if [ "$name" != "$old" ] && grep -q "^name = \"$name\"\$" Cargo.lock; then
    die "\"$name\" is already the name of a crate of the workspace or of a dependency; choose another"
fi

# Replaces the content of a file by the output of a command reading it,
# keeping the file's mode.
rewrite() {
    rewritten=$1
    shift
    "$@" <"$rewritten" >"$rewritten.rename-tmp" || {
        rm -f "$rewritten.rename-tmp"
        die "rewriting $rewritten failed"
    }
    cat "$rewritten.rename-tmp" >"$rewritten"
    rm -f "$rewritten.rename-tmp"
}

# The project's paths, without version control data, build output and this
# folder.
project_files() {
    find . \( -path ./.git -o -path ./target -o -path ./template \) -prune -o "$@" -print
}

# --- 1. What only the template needs -----------------------------------------

rm -f mk/template.mk scripts/template-test.sh
rmdir scripts 2>/dev/null || true

rewrite Makefile grep -v -x 'include mk/template.mk'

# README.md: the "Starting a new service" section and a `make template-test`
# row of a table go; the opening paragraph (it describes the template)
# becomes a marker, replaced below.
# shellcheck disable=SC2016
rewrite README.md awk '
    /^## / { skip = ($0 == "## Starting a new service") }
    skip { next }
    NR == 1 { print; next }
    intro == 0 && NF == 0 { print; next }
    intro == 0 { intro = 1; print "@@GENERATED-FROM@@"; next }
    intro == 1 && NF > 0 { next }
    intro == 1 { intro = 2 }
    /^[|] `make template-test`/ { next }
    { print }
'

# The CI job that runs `make template-test`.
if [ -f .github/workflows/ci.yml ]; then
    rewrite .github/workflows/ci.yml awk '
        /^[^ #]/ { skip = 0 }
        /^  [A-Za-z0-9_-]+:/ {
            skip = ($0 ~ /^  template:[ \t]*$/)
            if (!skip) { printf "%s", held }
            held = ""
        }
        skip && /^  #/ { held = held $0 "\n"; next }
        skip { next }
        { print }
    '
fi

if [ -f deploy/README.md ]; then
    # shellcheck disable=SC2016
    rewrite deploy/README.md sed -e 's/, `make template-test` and/ and/'
fi

if [ -f .ci/run ]; then
    rewrite .ci/run grep -v 'template-test'
fi

# --- 2. The name -------------------------------------------------------------

project_files -type f -exec grep -I -i -l "$old" {} + | while IFS= read -r file; do
    rewrite "$file" sed \
        -e "s/${old}_/${snake}_/g" \
        -e "s|postgres://${old}:|postgres://${snake}:|g" \
        -e "s|:5432/${old}|:5432/${snake}|g" \
        -e "s/Bulkhead/${pascal}/g" \
        -e "s/BULKHEAD/${shouty}/g" \
        -e "s/${old}/${name}/g"
done

# Deepest first (reverse order lists a folder's files before the folder),
# so a renamed folder never hides a path still to rename.
project_files -name "*${old}*" | sort -r | while IFS= read -r path; do
    dir=$(dirname "$path")
    base=$(basename "$path" | sed -e "s/${old}_/${snake}_/g" -e "s/${old}/${name}/g")
    mv "$path" "$dir/$base"
done

# --- 3. Where the project came from ------------------------------------------

rewrite README.md sed -e "s|^@@GENERATED-FROM@@\$|A production-grade [axum](https://github.com/tokio-rs/axum) service, generated from the ${old} template.|"

# --- 4. Cargo.lock order -----------------------------------------------------

# Cargo writes the packages sorted by name (byte order), then version. The
# renamed package keeps its version; a stable sort by name alone puts it
# where cargo would, and leaves every other package where it was.
rewrite Cargo.lock env LC_ALL=C awk '
    BEGIN { RS = ""; n = 0; m = 0; h = 0 }
    /^\[\[package\]\]/ && m == 0 {
        match($0, /\nname = "[^"]*"/)
        key = substr($0, RSTART + 9, RLENGTH - 10)
        i = ++n
        while (i > 1 && keys[i - 1] > key) {
            keys[i] = keys[i - 1]; pkgs[i] = pkgs[i - 1]; i--
        }
        keys[i] = key; pkgs[i] = $0
        next
    }
    n == 0 { head[++h] = $0; next }
    { tail[++m] = $0 }
    END {
        out = ""
        for (i = 1; i <= h; i++) { printf "%s%s\n", out, head[i]; out = "\n" }
        for (i = 1; i <= n; i++) { printf "%s%s\n", out, pkgs[i]; out = "\n" }
        for (i = 1; i <= m; i++) { printf "%s%s\n", out, tail[i]; out = "\n" }
    }
'

# --- 5. Formatting -----------------------------------------------------------

# Needs no network: cargo fmt reads the workspace's own manifests only. What
# it prints goes to stdout, which template/post.rhai shows.
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --all 2>&1 || echo "cargo fmt failed: run \`make fmt\` in the new project"
else
    echo "rustfmt is not installed: run \`make fmt\` in the new project"
fi
