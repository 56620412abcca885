#!/usr/bin/env python3
"""Adds a CRUD resource to the project: `make resource NAME=orders`.

The files under scripts/resource/files/ are a complete resource named
`widgets`, written as ordinary code. This script copies them with the new
name in every spelling the code uses, then makes the edits that wire the
resource in (module lines, the router, the handlers' state, the composition
root, the OpenAPI tag, the test binary). ARCHITECTURE.md ("Adding a
resource") lists the same steps for doing it by hand.

Every edit looks for a line it knows and fails, naming the file, when the
line is not there, so a project that has moved away from the template's
shape gets a clear message instead of a half-wired resource.
"""

from __future__ import annotations

import datetime
import keyword
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = Path(__file__).resolve().parent / "files"
SAMPLE = "widgets"


class Refused(Exception):
    """A name or a project this script cannot work with."""


class Names:
    """Every spelling of a resource's name, from its plural."""

    def __init__(self, plural: str, singular: str | None = None) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9]*([_-][a-z0-9]+)*", plural):
            raise Refused(
                f"`{plural}` cannot name a resource: use lowercase letters and digits, "
                "words joined by `_` or `-` (e.g. orders, order_items)"
            )
        words = re.split(r"[_-]", plural)
        singular_words = words[:-1] + [singularise(words[-1])] if singular is None else re.split(r"[_-]", singular)
        if singular_words == words:
            raise Refused(f"`{plural}` should be a plural (or give SINGULAR=...)")
        self.words, self.singular_words = words, singular_words

    def forms(self, words: list[str]) -> dict[str, str]:
        return {
            "snake": "_".join(words),
            "kebab": "-".join(words),
            "pascal": "".join(w.capitalize() for w in words),
            "shouty": "_".join(w.upper() for w in words),
            "human": " ".join(words),
        }

    @property
    def plural(self) -> dict[str, str]:
        return self.forms(self.words)

    @property
    def singular(self) -> dict[str, str]:
        return self.forms(self.singular_words)


def singularise(word: str) -> str:
    """English's regular plurals; SINGULAR=... covers the rest."""
    if word.endswith("ies") and len(word) > 3:
        return word[:-3] + "y"
    if re.search(r"(ss|sh|ch|x|z)es$", word):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


# --- rendering -------------------------------------------------------------

TOKEN = re.compile(r"[A-Za-z0-9_]*(?:widgets|widget|Widgets|Widget|WIDGETS|WIDGET)[A-Za-z0-9_]*")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
TICKS = re.compile(r"`[^`]*`")


def render(text: str, names: Names) -> str:
    """The sample resource's text with the new name."""
    return "\n".join(render_line(line, names) for line in text.split("\n"))


def render_line(line: str, names: Names) -> str:
    stripped = line.lstrip()
    if stripped.startswith(("//", "--")):
        # Prose, but code in backticks.
        return replace_outside(line, TICKS, lambda s: prose(s, names), lambda s: code(s, names))
    # Code, but prose in string literals that are messages.
    return replace_outside(line, STRING, lambda s: code(s, names), lambda s: string(s, names))


def replace_outside(line, pattern, outside, inside):
    out, last = [], 0
    for match in pattern.finditer(line):
        out.append(outside(line[last : match.start()]))
        out.append(inside(match.group(0)))
        last = match.end()
    out.append(outside(line[last:]))
    return "".join(out)


def word(token: str, names: Names, form: str) -> str:
    """One spelling of the name for a whole token of the sample's."""
    p, s = names.plural, names.singular
    table = {
        "WIDGETS": p["shouty"], "WIDGET": s["shouty"],
        "Widgets": p["pascal"], "Widget": s["pascal"],
        "widgets": p[form], "widget": s[form],
    }
    return re.sub(r"widgets|widget|Widgets|Widget|WIDGETS|WIDGET", lambda m: table[m.group(0)], token)


def code(text: str, names: Names) -> str:
    """Identifiers (snake), URL paths and scopes (kebab)."""
    text = re.sub(r"(?<=/)widgets\b", names.plural["kebab"], text)
    text = re.sub(r"\bwidgets(?=:(?!:))", names.plural["kebab"], text)
    return TOKEN.sub(lambda m: word(m.group(0), names, "snake"), text)


def string(text: str, names: Names) -> str:
    """A string literal: a path, a scope, a tag, a dotted name, or a message."""
    body = text[1:-1]
    if re.fullmatch(r"widgets", body):  # a tag or a table
        return '"' + names.plural["kebab"] + '"'
    if "/" in body or re.search(r"widgets:", body) or re.search(r"\.widgets?\b|\bwidgets?\.", body):
        return code(text, names)
    if re.search(r"[A-Z]*(?:SELECT|INSERT|UPDATE|DELETE|FROM)\b", body):
        return code(text, names)
    return prose(text, names)


def prose(text: str, names: Names) -> str:
    """Words of a sentence; a token joined to others (`_`, `::`) stays code."""
    def one(match: re.Match) -> str:
        token = match.group(0)
        if token in ("widgets", "widget"):
            return word(token, names, "human")
        return word(token, names, "snake")

    text = TOKEN.sub(one, text)
    # "a widget" becomes "an order".
    human = {names.singular["human"], names.plural["human"]}
    for h in human:
        article = "an" if h[0] in "aeiou" else "a"
        text = re.sub(rf"\b([Aa]n?) {re.escape(h)}\b", lambda m: ("A" if m.group(1)[0] == "A" else "a") + article[1:] + " " + h, text)
    return text


# --- wiring edits ------------------------------------------------------------


def edit(path: str, change) -> None:
    file = ROOT / path
    if not file.exists():
        raise Refused(f"{path} is missing")
    before = file.read_text()
    after = change(before)
    if after == before:
        raise Refused(f"{path}: nothing to change (already wired?)")
    file.write_text(after)
    print(f"  edited  {path}")


def insert_after(pattern: str, addition: str, path: str):
    def change(text: str) -> str:
        match = re.search(pattern, text, re.M)
        if not match:
            raise Refused(f"{path}: no line matching `{pattern}` to wire the resource in after")
        end = text.index("\n", match.end()) + 1 if not match.group(0).endswith("\n") else match.end()
        return text[:end] + addition + text[end:]
    return change


def add_module(text: str, line: str, prefix: str) -> str:
    """Adds `line` to the block of `prefix` lines, in order."""
    lines = text.split("\n")
    # The first run of two or more such lines: a test binary's `mod
    # helpers;` stands alone, and the example's modules come after the
    # infrastructure's, in a run of their own.
    runs: list[list[int]] = []
    for i, l in enumerate(lines):
        if l.startswith(prefix):
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
    if not runs:
        raise Refused(f"no `{prefix}` line")
    block = next((run for run in runs if len(run) > 1), runs[0])
    position = next((i for i in block if lines[i] > line), block[-1] + 1)
    lines.insert(position, line)
    return "\n".join(lines)


def add_layout_bullet(text: str, bullet: str) -> str:
    """Adds a bullet after the last one of the `//! # Layout` list."""
    lines = text.split("\n")
    last = max((i for i, l in enumerate(lines) if l.startswith("//! - ")), default=None)
    if last is None:
        return text
    while last + 1 < len(lines) and lines[last + 1].startswith("//!   "):
        last += 1
    lines.insert(last + 1, bullet)
    return "\n".join(lines)


def add_to_braces(pattern: str, item: str):
    """Adds `item` to a `{a, b}` list on the line matching `pattern`."""
    def change(text: str) -> str:
        match = re.search(pattern, text, re.M)
        if not match:
            raise Refused(f"no line matching `{pattern}`")
        items = sorted({*(i.strip() for i in match.group(1).split(",") if i.strip()), item})
        return text[: match.start(1)] + ", ".join(items) + text[match.end(1) :]
    return change


def wire(n: Names) -> None:
    p, s = n.plural, n.singular
    snake, pascal = p["snake"], s["pascal"]
    for crate, what in [
        ("service", f"the {s['human']} use cases, their rules and ports."),
        ("repository", f"[`Pg{pascal}Store`]({snake}::Pg{pascal}Store), the {snake} table."),
        ("handler", f"the {p['human']} routes and their request/response bodies."),
    ]:
        path = f"crates/{crate}/src/lib.rs"
        edit(path, lambda t, what=what: add_layout_bullet(
            add_module(t, f"pub mod {snake};", "pub mod "), f"//! - [`{snake}`]: {what}"))
    edit("crates/handler/src/state.rs", lambda t: insert_after(
        r"^pub struct AppState \{", f"    /// The {s['human']} use cases.\n    pub {snake}: Arc<{pascal}Service>,\n",
        "crates/handler/src/state.rs")(add_module(t, f"use service::{snake}::{pascal}Service;", "use service::")))
    edit("crates/handler/src/router.rs", lambda t: insert_after(
        r"OpenApiRouter::with_openapi\(openapi::base\(\)\)$", f"        .merge({snake}::router(state.auth.clone()))\n",
        "crates/handler/src/router.rs")(add_to_braces(r"^use crate::\{([^}]*)\};", snake)(t)))
    tag = f'(name = "{p["kebab"]}", description = "{p["human"].capitalize()}")'

    def openapi(t: str) -> str:
        match = re.search(r"^    tags\(\n(?:        .*\n)*?(    \)\n)", t, re.M)
        if match:
            return t[: match.start(1)] + f"        {tag},\n" + t[match.start(1) :]
        return insert_after(
            r"^    modifiers\(&BearerScheme\),$", f"    tags(\n        {tag},\n    )\n", "crates/handler/src/openapi.rs"
        )(t)

    edit("crates/handler/src/openapi.rs", openapi)
    wiring = "crates/app/src/startup/wiring.rs"
    build = (
        f"    let {snake} = Arc::new(\n"
        f"        {pascal}Service::new(Arc::new(Pg{pascal}Store::new(pool.clone())))\n"
        f"            .with_idempotency_ttl(settings.idempotency.ttl),\n"
        f"    );\n"
    )

    def wiring_edit(t: str) -> str:
        t = add_module(t, f"use repository::{snake}::Pg{pascal}Store;", "use repository::")
        t = add_module(t, f"use service::{snake}::{pascal}Service;", "use service::")
        match = re.search(r"^    let \(auth, keys\) = auth::wire\(", t, re.M)
        if not match:
            raise Refused(f"{wiring}: no `let (auth, keys) = auth::wire(` to build the service before")
        t = t[: match.start()] + build + t[match.start() :]
        return insert_after(r"^        AppState \{$", f"            {snake},\n", wiring)(t)

    edit(wiring, wiring_edit)
    edit("crates/app/tests/api/main.rs", lambda t: add_module(t, f"mod {snake};", "mod "))


def refuse_taken(n: Names) -> None:
    snake = n.plural["snake"]
    if keyword.iskeyword(snake) or snake in {"crate", "self", "super", "mod", "type", "ref", "box", "move"}:
        raise Refused(f"`{snake}` is a keyword")
    for crate in ("service", "repository", "handler"):
        for taken in (f"crates/{crate}/src/{snake}.rs", f"crates/{crate}/src/{snake}"):
            if (ROOT / taken).exists():
                raise Refused(f"`{snake}` is taken: {taken} exists")
    for taken in (f"crates/app/tests/api/{snake}.rs", f"crates/app/tests/api/{snake}"):
        if (ROOT / taken).exists():
            raise Refused(f"`{snake}` is taken: {taken} exists")


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or not argv[1]:
        print("usage: add.py NAME [SINGULAR]   (e.g. orders, order_items)", file=sys.stderr)
        return 2
    try:
        names = Names(argv[1], argv[2] if len(argv) == 3 and argv[2] else None)
        refuse_taken(names)
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
        written = []
        for source in sorted(FILES.rglob("*")):
            if not source.is_file():
                continue
            relative = source.relative_to(FILES).as_posix()
            target = relative.replace(SAMPLE, names.plural["snake"])
            if target.startswith("migrations/"):
                target = f"migrations/{stamp}_{target.removeprefix('migrations/')}"
            destination = ROOT / target
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_text(render(source.read_text(), names))
            written.append(target)
            print(f"  created {target}")
        wire(names)
    except Refused as refused:
        print(f"make resource: {refused}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
