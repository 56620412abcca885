#!/usr/bin/env python3
"""Removes the users example: `make drop-example`.

Deletes its code, migration, tests and documentation, and undoes its
wiring, leaving the infrastructure (outbox, cache connection and guard,
breaker, probes, telemetry, shutdown) and its tests. Every edit looks for
the exact lines it removes and fails, naming the file, when they are not
there, so nothing is removed by a guess. Markdown sections that only
concern the example sit between `<!-- example -->` and `<!-- /example -->`
lines; their `<!-- instead -->` part, when there is one, stays.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class Refused(Exception):
    """The project no longer has the shape this script knows."""


DELETE = [
    "crates/service/src/users.rs",
    "crates/service/src/users",
    "crates/repository/src/users.rs",
    "crates/repository/src/cache.rs",
    "crates/handler/src/users.rs",
    "crates/handler/src/users",
    "crates/app/tests/api/helpers/users.rs",
    "crates/app/tests/faults",
    "mk/faults.mk",
    "bench/delivery",
    "bench/users.sh",
    "bench/users_create.lua",
    "bench/bare/src/users.rs",
    # The fault suite's support crate: nothing else uses it.
    "crates/testkit",
    # Nothing is left to drop.
    "scripts/resource/drop_example.py",
]
DELETE_GLOBS = [
    "migrations/*_create_users.up.sql",
    "migrations/*_create_users.down.sql",
    "crates/app/tests/api/users_*.rs",
    "crates/app/tests/api/users_*",
]


def remove_lines(*lines: str):
    """Removes each of `lines` (whole lines), each exactly once."""
    def change(text: str, path: str) -> str:
        for line in lines:
            pattern = re.compile(rf"^{re.escape(line)}\n", re.M)
            text, count = pattern.subn("", text)
            if count != 1:
                raise Refused(f"{path}: expected the line `{line}` once, found it {count} times")
        return text
    return change


def remove_matching(regex: str, at_least: int = 1):
    """Removes every whole line matching `regex`."""
    def change(text: str, path: str) -> str:
        pattern = re.compile(rf"^(?:{regex})\n", re.M)
        text, count = pattern.subn("", text)
        if count < at_least:
            raise Refused(f"{path}: no line matching `{regex}`")
        return text
    return change


def remove_bullet(module: str):
    """Removes a `//! - [`module`]` layout bullet and its continuation lines."""
    def change(text: str, path: str) -> str:
        pattern = re.compile(rf"^//! - \[`{re.escape(module)}`\].*\n(?://!   .*\n)*", re.M)
        text, count = pattern.subn("", text)
        if count != 1:
            raise Refused(f"{path}: no layout line for `{module}`")
        return text
    return change


def remove_block(start: str, end: str):
    """Removes the lines from the one equal to `start` to the first equal
    to `end` after it, both included."""
    def change(text: str, path: str) -> str:
        lines = text.split("\n")
        try:
            first = lines.index(start)
            last = lines.index(end, first)
        except ValueError:
            raise Refused(f"{path}: no block from `{start.strip()}` to `{end.strip()}`") from None
        return "\n".join(lines[:first] + lines[last + 1 :])
    return change


def remove_from_braces(line_regex: str, item: str):
    """Removes `item` from the `{a, b}` list of the line matching `line_regex`."""
    def change(text: str, path: str) -> str:
        match = re.search(line_regex, text, re.M)
        if not match:
            raise Refused(f"{path}: no line matching `{line_regex}`")
        items = [i.strip() for i in match.group(1).split(",") if i.strip()]
        if item not in items:
            raise Refused(f"{path}: `{item}` is not in `{match.group(0)}`")
        items.remove(item)
        return text[: match.start(1)] + ", ".join(items) + text[match.end(1) :]
    return change


def replace_line(old: str, new: str):
    """Replaces the whole line `old`, found exactly once, with `new`."""
    def change(text: str, path: str) -> str:
        pattern = re.compile(rf"^{re.escape(old)}$", re.M)
        text, count = pattern.subn(lambda _: new, text)
        if count != 1:
            raise Refused(f"{path}: expected the line `{old}` once, found it {count} times")
        return text
    return change


def replace_text(old: str, new: str):
    """Replaces `old` (any number of whole lines), found exactly once."""
    def change(text: str, path: str) -> str:
        if text.count(old) != 1:
            raise Refused(f"{path}: expected `{old.strip()}` once, found it {text.count(old)} times")
        return text.replace(old, new)
    return change


def remove_to_end(start: str):
    """Removes the line equal to `start` and every line after it."""
    def change(text: str, path: str) -> str:
        lines = text.split("\n")
        if start not in lines:
            raise Refused(f"{path}: no line `{start}`")
        return "\n".join(lines[: lines.index(start)]).rstrip("\n") + "\n"
    return change


def drop_marked(text: str, path: str) -> str:
    """Removes `<!-- example -->` sections, keeping their `<!-- instead -->` part."""
    pattern = re.compile(
        r"^<!-- example -->\n(.*?)^(?:<!-- instead -->\n(.*?))?^<!-- /example -->\n", re.M | re.S
    )
    text, count = pattern.subn(lambda m: m.group(2) or "", text)
    if count == 0:
        raise Refused(f"{path}: no <!-- example --> section")
    # A removed section between two blank lines leaves one.
    return re.sub(r"\n{3,}", "\n\n", text)


def openapi_tag(text: str, path: str) -> str:
    text = remove_matching(r'        \(name = "users", description = ".*"\),')(text, path)
    return text.replace("    tags(\n    )\n", "")


EDITS = {
    "crates/service/src/lib.rs": [remove_lines("pub mod users;"), remove_bullet("users")],
    "crates/repository/src/lib.rs": [
        remove_lines("pub mod users;", "pub mod cache;"),
        remove_bullet("users"),
        remove_bullet("cache"),
    ],
    "crates/handler/src/lib.rs": [remove_lines("pub mod users;"), remove_bullet("users")],
    "crates/handler/src/state.rs": [
        remove_lines(
            "use service::users::UserService;",
            "    /// The user use cases.",
            "    pub users: Arc<UserService>,",
        )
    ],
    "crates/handler/src/router.rs": [
        remove_lines("        .merge(users::router(state.auth.clone()))"),
        remove_from_braces(r"^use crate::\{([^}]*)\};", "users"),
    ],
    "crates/handler/src/openapi.rs": [openapi_tag],
    "crates/app/src/startup/wiring.rs": [
        remove_lines(
            "use repository::cache::RedisUserCache;",
            "use repository::users::PgUserStore;",
            "use service::users::{UserCache, UserService};",
            "            users,",
        ),
        remove_block("    // The users example: its store, its read cache and its service.", "    );"),
    ],
    "crates/app/src/telemetry/metrics.rs": [remove_lines("    service::users::describe_metrics();")],
    "crates/app/tests/api/main.rs": [
        remove_lines("// The users example; `make drop-example` deletes these with it."),
        remove_matching(r"mod users_\w+;"),
    ],
    "crates/app/tests/api/helpers.rs": [
        remove_lines("mod users;", "pub use self::users::*;"),
        replace_text(
            "//! one test. Everything but [`users`] is generic, for any resource's tests\n"
            "//! and the infrastructure's.\n",
            "//! one test, for any resource's tests and the infrastructure's.\n",
        ),
    ],
    # The fault suite and the delivery benchmark drive the example's routes.
    "Makefile": [
        remove_lines("include mk/faults.mk"),
        replace_line(
            "bench: ## Benchmark each route against a baseline doing the same work (wrk, pinned cores),"
            " then outbox delivery; tables in target/bench/report.md",
            "bench: ## Benchmark each route against a baseline doing the same work (wrk, pinned cores);"
            " table in target/bench/report.md",
        ),
    ],
    "Cargo.toml": [
        replace_line(
            'members = ["crates/*", "bench/bare", "bench/delivery"]',
            'members = ["crates/*", "bench/bare"]',
        ),
        remove_lines('testkit = { path = "crates/testkit" }'),
    ],
    "crates/app/Cargo.toml": [remove_lines("testkit.workspace = true")],
    "mk/resource.mk": [remove_to_end(".PHONY: drop-example")],
    # A new project has shipped no migration yet, so the ones the example
    # shaped can lose what concerned it: the data migration that filled
    # users' events in, and the users in comments.
    "migrations/20261123000001_outbox_event_payload.up.sql": [
        remove_block(
            "-- Until now the worker loaded the user at delivery time. Events written",
            "    EXECUTE FUNCTION outbox_events_fill_payload();",
        )
    ],
    "migrations/20261123000001_outbox_event_payload.down.sql": [
        remove_lines(
            "-- Back to events that carry only the user's id. The previous release",
            "-- knows only `user.created` and cannot read the other types: they are",
            "-- removed with the data they carried.",
            "DROP TRIGGER outbox_events_fill_payload ON outbox_events;",
            "DROP FUNCTION outbox_events_fill_payload();",
            "DROP FUNCTION outbox_user_payload(uuid);",
            "DELETE FROM outbox_events WHERE event_type <> 'user.created';",
        )
    ],
    "migrations/20261122000002_create_outbox_events.up.sql": [
        replace_line(
            "    event_type      text        NOT NULL,           -- e.g. user.created",
            "    event_type      text        NOT NULL,           -- e.g. order.created",
        ),
        replace_line(
            "    aggregate_id    uuid        NOT NULL,           -- the user; loaded at delivery",
            "    aggregate_id    uuid        NOT NULL,           -- what it happened to",
        ),
    ],
    "migrations/20261123000002_create_idempotency_keys.up.sql": [
        replace_line(
            "-- the effect does. Keys are scoped by operation (e.g. users.create).",
            "-- the effect does. Keys are scoped by operation (e.g. orders.create).",
        )
    ],
    ".config/nextest.toml": [
        remove_block(
            "# The fault suite (crates/app/tests/faults) drives the release binary under",
            'default-filter = "not binary(faults)"',
        ),
        remove_to_end("[profile.faults]"),
    ],
    ".ci/run": [remove_lines('log "make faults"', "make faults")],
    "bench/run.sh": [
        remove_lines(
            "# The example's rows are in bench/users.sh.",
            "# Then outbox delivery (bench/delivery: latency from a create's 201 to its",
            "# webhook, and deliveries per second with two replicas sharing the table).",
            "    # The delivery driver kills the service processes it started on SIGTERM.",
            '    stop "${DELIVERY_PID:-}"',
            "# The example's rows set it to the cached read.",
            ". bench/users.sh",
        ),
        replace_line(
            "cargo build --release --locked -p bulkhead -p bench-bare -p bench-delivery",
            "cargo build --release --locked -p bulkhead -p bench-bare",
        ),
        remove_to_end("# Free the cores for the delivery runs."),
    ],
    "bench/bare/src/main.rs": [
        replace_text("//!\n//! The example's baselines are in [`users`].\n", ""),
        remove_lines(
            "mod users;",
            "    let app = app.merge(users::routes().await?);",
        ),
    ],
    # What the example's baselines needed.
    "bench/bare/Cargo.toml": [
        remove_lines(
            "redis.workspace = true",
            "serde.workspace = true",
            "time.workspace = true",
            "uuid.workspace = true",
        ),
    ],
}
MARKED = ["README.md", "ARCHITECTURE.md"]
DASHBOARD = "deploy/dashboards/bulkhead.json"
# The users' read cache is the only writer of this metric.
EXAMPLE_METRICS = ("cache_requests_total",)


def drop_panels(text: str, path: str) -> str:
    """Removes the dashboard's panels that chart only the example's metrics."""
    dashboard = json.loads(text)
    kept = [
        panel
        for panel in dashboard["panels"]
        if not any(
            metric in target.get("expr", "")
            for target in panel.get("targets", [])
            for metric in EXAMPLE_METRICS
        )
    ]
    if len(kept) == len(dashboard["panels"]):
        raise Refused(f"{path}: no panel charts {', '.join(EXAMPLE_METRICS)}")
    dashboard["panels"] = kept
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    try:
        for relative in DELETE:
            if not (ROOT / relative).exists():
                raise Refused(f"{relative} is missing: was the example dropped already?")
        changed = {}
        for relative, changes in EDITS.items():
            text = (ROOT / relative).read_text()
            for change in changes:
                text = change(text, relative)
            changed[relative] = text
        for relative in MARKED:
            changed[relative] = drop_marked((ROOT / relative).read_text(), relative)
        changed[DASHBOARD] = drop_panels((ROOT / DASHBOARD).read_text(), DASHBOARD)
    except Refused as refused:
        print(f"make drop-example: {refused}; nothing was changed", file=sys.stderr)
        return 1
    # Every edit was worked out before anything is written.
    for relative, text in changed.items():
        (ROOT / relative).write_text(text)
        print(f"  edited  {relative}")
    for relative in DELETE:
        path = ROOT / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        print(f"  removed {relative}")
    for pattern in DELETE_GLOBS:
        for path in sorted(ROOT.glob(pattern)):
            if path.exists():
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                print(f"  removed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
