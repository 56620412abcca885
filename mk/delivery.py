"""Helpers for the checks in mk/delivery.mk (run with the .tools/venv Python).

  split RENDERED.yaml [--native F] [--custom F] [--rules F]
      kubernetes-validate knows the built-in kinds only, so the
      prometheus-operator objects (ServiceMonitor, PrometheusRule) go to a
      file of their own, and the rule groups of every PrometheusRule are
      written as a plain Prometheus rule file for `promtool check rules`
      (deploy/alerts/rules.yaml is such a file).

  require-env RENDERED.yaml NAME...
      Fails unless every Deployment of the rendered manifests gives one of
      its containers each NAME with a non-empty value: from `env` (a value,
      or a ConfigMap or Secret key reference), or from a ConfigMap of the
      same render it takes with `envFrom`. The prod overlay must set the
      authentication variables this way, or its API would be open.

  dashboard-rules DASHBOARD.json OUT.yaml
      Writes every query of a Grafana dashboard as a recording rule, with
      the dashboard variables filled in, so `promtool check rules` parses
      them all.

  workflow-rules [--self-test]
      The structure rules of mk/workflow_rules.py on the workflows, the
      Dockerfile and the Dependabot file: actions pinned by SHA with their
      tag, the release behind the CI gate, signing and SBOM attestation by
      digest, base images by digest, cargo auditable. Prints every problem,
      then fails if there was one. --self-test instead checks the rules:
      every bad fixture of mk/fixtures/supply-chain/ must be rejected and
      the real files accepted.
"""

import argparse
import json
import sys

import yaml

import connection_budget
import workflow_rules

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


def _container_env(container, config_maps):
    """Names of the variables a container gets with a non-empty value."""
    names = set()
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref and ref.get("name") in config_maps:
            prefix = source.get("prefix", "")
            data = config_maps[ref["name"]]
            names.update(prefix + k for k, v in data.items() if str(v).strip())
    for var in container.get("env") or []:
        if str(var.get("value", "")).strip():
            names.add(var["name"])
            continue
        value_from = var.get("valueFrom") or {}
        ref = value_from.get("configMapKeyRef")
        if ref and str(config_maps.get(ref.get("name"), {}).get(ref.get("key"), "")).strip():
            names.add(var["name"])
        elif value_from.get("secretKeyRef"):
            names.add(var["name"])
    return names


def require_env(args):
    with open(args.rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]

    config_maps = {
        d["metadata"]["name"]: d.get("data") or {} for d in docs if d.get("kind") == "ConfigMap"
    }
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    if not deployments:
        sys.exit(f"{args.rendered}: no Deployment found")
    problems = []
    for deployment in deployments:
        containers = deployment["spec"]["template"]["spec"].get("containers") or []
        missing_per_container = [
            sorted(set(args.names) - _container_env(c, config_maps)) for c in containers
        ]
        if all(missing_per_container):
            fewest = min(missing_per_container, key=len)
            problems.append(f"Deployment {deployment['metadata']['name']}: {', '.join(fewest)} not set")
    if problems:
        sys.exit(f"{args.rendered}: required variables missing:\n  " + "\n  ".join(problems))
    print(f"{args.rendered}: {', '.join(args.names)} set")


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


def connection_budget_cmd(args):
    failures = connection_budget.self_test()
    if failures:
        sys.exit("connection budget self-test failed:\n  " + "\n  ".join(failures))
    with open(args.rendered, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    problems, lines = connection_budget.check(docs, args.max_connections, args.reserved)
    print("\n".join("    " + line for line in lines))
    if problems:
        sys.exit(f"{args.rendered}: " + "; ".join(problems))


def workflow_rules_cmd(args):
    if args.self_test:
        failures = workflow_rules.self_test()
        if failures:
            sys.exit("workflow rules self-test failed:\n  " + "\n  ".join(failures))
        print(
            f"workflow rules self-test: {len(workflow_rules.SELF_TEST)} bad fixtures rejected, "
            "the real files accepted"
        )
        return
    problems = workflow_rules.problems_of(workflow_rules.default_inputs())
    if problems:
        sys.exit(f"supply-chain structure: {len(problems)} problem(s):\n  " + "\n  ".join(problems))
    print("supply-chain structure: workflows, Dockerfile and Dependabot file pass")


def main():
    parser = argparse.ArgumentParser(description="Helpers for mk/delivery.mk")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("split", help="split rendered manifests for the checkers")
    p.add_argument("rendered")
    p.add_argument("--native", help="write the built-in kinds here")
    p.add_argument("--custom", help="write the prometheus-operator kinds here")
    p.add_argument("--rules", help="write the PrometheusRule groups here")
    p.set_defaults(func=split)

    p = sub.add_parser("require-env", help="fail unless every Deployment sets these variables")
    p.add_argument("rendered")
    p.add_argument("names", nargs="+")
    p.set_defaults(func=require_env)

    p = sub.add_parser("dashboard-rules", help="a dashboard's queries as recording rules")
    p.add_argument("dashboard")
    p.add_argument("out")
    p.set_defaults(func=dashboard_rules)

    p = sub.add_parser("connection-budget", help="PostgreSQL connections at the autoscaler's maximum")
    p.add_argument("rendered")
    p.add_argument("--max-connections", type=int, default=100, help="the server's max_connections")
    p.add_argument("--reserved", type=int, default=3, help="superuser_reserved_connections")
    p.set_defaults(func=connection_budget_cmd)

    p = sub.add_parser("workflow-rules", help="supply-chain structure of workflows and Dockerfile")
    p.add_argument("--self-test", action="store_true", help="check the rules on the bad fixtures")
    p.set_defaults(func=workflow_rules_cmd)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
