"""Helpers for the checks in mk/delivery.mk (run with the .tools/venv Python).

  split RENDERED.yaml [--native F] [--custom F] [--rules F]
      kubernetes-validate knows the built-in kinds only, so the
      prometheus-operator objects (ServiceMonitor, PrometheusRule) go to a
      file of their own, and the rule groups of every PrometheusRule are
      written as a plain Prometheus rule file for `promtool check rules`
      (deploy/alerts/rules.yaml is such a file).

  dashboard-rules DASHBOARD.json OUT.yaml
      Writes every query of a Grafana dashboard as a recording rule, with
      the dashboard variables filled in, so `promtool check rules` parses
      them all.
"""

import argparse
import json
import sys

import yaml

CUSTOM_GROUPS = ("monitoring.coreos.com/",)
RULES_HEADER = (
    "# Generated from deploy/alerts/prometheusrule.yaml by `make alerts-rules`;\n"
    "# edit that file, not this one. The same groups, for a Prometheus that\n"
    "# loads rule files directly (deploy/compose.yaml mounts this file).\n"
)
DASHBOARD_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$namespace": ".*",
}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(data, out, many=False):
    dump = yaml.dump_all if many else yaml.dump
    dump(data, out, Dumper=_Dumper, sort_keys=False, width=1000)


def split(args):
    with open(args.rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]

    native = [d for d in docs if not d.get("apiVersion", "").startswith(CUSTOM_GROUPS)]
    custom = [d for d in docs if d.get("apiVersion", "").startswith(CUSTOM_GROUPS)]
    groups = [
        g
        for d in custom
        if d.get("kind") == "PrometheusRule"
        for g in d.get("spec", {}).get("groups", [])
    ]

    if args.native:
        with open(args.native, "w", encoding="utf-8") as out:
            _dump(native, out, many=True)
    if args.custom:
        with open(args.custom, "w", encoding="utf-8") as out:
            _dump(custom, out, many=True)
    if args.rules:
        if not groups:
            sys.exit(f"{args.rendered}: no PrometheusRule groups found")
        with open(args.rules, "w", encoding="utf-8") as out:
            out.write(RULES_HEADER)
            _dump({"groups": groups}, out)


def dashboard_rules(args):
    with open(args.dashboard, encoding="utf-8") as f:
        dashboard = json.load(f)

    rules = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                expr = target.get("expr")
                if not expr:
                    continue
                for name, value in DASHBOARD_VARIABLES.items():
                    expr = expr.replace(name, value)
                if "$" in expr:
                    sys.exit(f"panel {panel.get('title')!r}: unknown variable in {expr!r}")
                rules.append({"record": f"dashboard:panel_{panel['id']}:{target['refId']}", "expr": expr})
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    if not rules:
        sys.exit(f"{args.dashboard}: no queries found")
    with open(args.out, "w", encoding="utf-8") as out:
        _dump({"groups": [{"name": "dashboard", "rules": rules}]}, out)


def main():
    parser = argparse.ArgumentParser(description="Helpers for mk/delivery.mk")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("split", help="split rendered manifests for the checkers")
    p.add_argument("rendered")
    p.add_argument("--native", help="write the built-in kinds here")
    p.add_argument("--custom", help="write the prometheus-operator kinds here")
    p.add_argument("--rules", help="write the PrometheusRule groups here")
    p.set_defaults(func=split)

    p = sub.add_parser("dashboard-rules", help="a dashboard's queries as recording rules")
    p.add_argument("dashboard")
    p.add_argument("out")
    p.set_defaults(func=dashboard_rules)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
