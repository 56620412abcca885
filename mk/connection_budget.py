"""PostgreSQL connection budget of a rendered overlay.

At the autoscaler's maximum, during a rollout (maxSurge more pods), every
server pod holds DATABASE_MAX_CONNECTIONS pool connections plus one for the
readiness check, and every Job (the migration) one. The sum must fit the
server's max_connections less the superuser reserve (deploy/README.md,
"Many replicas, one database"). Behind a transaction pooler
(DATABASE_TRANSACTION_POOLER=true) the pooler's own pool is what reaches
PostgreSQL; the sum is then only reported.
"""

import math

# The service's default when the overlay does not set it (crates/config).
DEFAULT_MAX_CONNECTIONS = 10
# Kubernetes' default maxSurge for a RollingUpdate.
DEFAULT_MAX_SURGE = "25%"
READINESS_CONNECTIONS = 1


def _env(container, config_maps):
    """The container's variables with values, from ConfigMaps and `env`."""
    values = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref and ref.get("name") in config_maps:
            prefix = source.get("prefix", "")
            values.update({prefix + k: str(v) for k, v in config_maps[ref["name"]].items()})
    for var in container.get("env") or []:
        if "value" in var:
            values[var["name"]] = str(var["value"])
    return values


def _surge(max_surge, replicas):
    text = str(max_surge)
    if text.endswith("%"):
        return math.ceil(replicas * int(text[:-1]) / 100)
    return int(text)


def budget(docs):
    """(connections in all, through a pooler?, the sum as lines)."""
    config_maps = {
        d["metadata"]["name"]: d.get("data") or {} for d in docs if d.get("kind") == "ConfigMap"
    }
    deployments = [d for d in docs if d.get("kind") == "Deployment"]
    if len(deployments) != 1:
        raise ValueError(f"expected one Deployment, found {len(deployments)}")
    deployment = deployments[0]
    hpas = [d for d in docs if d.get("kind") == "HorizontalPodAutoscaler"]
    replicas = hpas[0]["spec"]["maxReplicas"] if hpas else deployment["spec"].get("replicas", 1)
    rolling = (deployment["spec"].get("strategy") or {}).get("rollingUpdate") or {}
    surge = _surge(rolling.get("maxSurge", DEFAULT_MAX_SURGE), replicas)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = _env(container, config_maps)
    pool = int(env.get("DATABASE_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS))
    pooled = env.get("DATABASE_TRANSACTION_POOLER", "false").strip().lower() == "true"
    jobs = sum(1 for d in docs if d.get("kind") == "Job")
    pods = replicas + surge
    each = pool + READINESS_CONNECTIONS
    total = pods * each + jobs
    lines = [
        f"pods at most   {replicas} (maxReplicas) + {surge} (maxSurge) = {pods}",
        f"per pod        {pool} (DATABASE_MAX_CONNECTIONS) + {READINESS_CONNECTIONS} (readiness) = {each}",
        f"servers        {pods} x {each} = {pods * each}",
        f"jobs           {jobs}",
        f"in all         {total}",
    ]
    return total, pooled, lines


def check(docs, max_connections, reserved):
    """Problems with the budget of `docs`, and the sum to print."""
    total, pooled, lines = budget(docs)
    available = max_connections - reserved
    if pooled:
        lines.append(f"behind a transaction pooler: {total} client connections of the pooler")
        return [], lines
    lines.append(f"available      {max_connections} (max_connections) - {reserved} (reserved) = {available}")
    if total > available:
        return [
            f"{total} PostgreSQL connections at the autoscaler's maximum during a rollout, "
            f"more than the {available} available: lower DATABASE_MAX_CONNECTIONS or maxReplicas, "
            "or set DATABASE_TRANSACTION_POOLER behind PgBouncer"
        ], lines
    return [], lines


def self_test():
    """The check must reject the budget the base once had (10 a pod)."""

    def overlay(max_connections):
        return [
            {"kind": "ConfigMap", "metadata": {"name": "c"},
             "data": {"DATABASE_MAX_CONNECTIONS": str(max_connections)}},
            {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"}, "spec": {"maxReplicas": 10}},
            {"kind": "Job", "metadata": {"name": "migrate"}},
            {"kind": "Deployment", "metadata": {"name": "d"}, "spec": {
                "strategy": {"rollingUpdate": {"maxSurge": "25%"}},
                "template": {"spec": {"containers": [{"envFrom": [{"configMapRef": {"name": "c"}}]}]}},
            }},
        ]

    failures = []
    if not check(overlay(10), 100, 3)[0]:
        failures.append("13 pods x 11 + 1 = 144 connections passed a budget of 97")
    if check(overlay(6), 100, 3)[0]:
        failures.append("13 pods x 7 + 1 = 92 connections failed a budget of 97")
    return failures
