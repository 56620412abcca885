"""Structure rules for the supply-chain files (`mk/delivery.py workflow-rules`).

Pinning, the CI gate, keyless signing and the SBOM attestation only take
effect on GitHub, with a registry and a Docker engine; none of that can run
offline. What can be checked offline is that the files ask for it:

  workflows   every `uses:` is pinned to a full commit SHA, with the tag in a
              `# v...` comment on the same line (Dependabot updates both);
  release     the job that pushes the image needs the job that requires a
              successful CI run of the tagged commit; it signs the image with
              cosign, keyless (`id-token: write`, no key), by the digest the
              build step output; it makes the SBOM with `make sbom`, attests
              it to that digest as CycloneDX and uploads it;
  Dockerfile  every external base image is `name:tag@sha256:<digest>`; the
              binary is built with `cargo auditable build` (a pinned
              cargo-auditable), never a plain `cargo build`;
  dependabot  the github-actions and docker ecosystems are updated.

`problems_of` returns every problem at once (mk/delivery.py prints them all,
then fails). `self_test` runs the rules on the bad fixtures in mk/fixtures/supply-chain/
(each must be rejected, for the reason it was written for) and on the real
files (which must pass), so the rules cannot quietly accept everything.
"""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "supply-chain"

SHA = re.compile(r"[0-9a-f]{40}")
TAG_COMMENT = re.compile(r"#\s*v\d[\w.+-]*")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
USES_LINE = re.compile(r"""^\s*(?:-\s+)?uses:\s*(?P<q>['"]?)(?P<ref>[^\s'"#]+)(?P=q)\s*(?P<comment>#.*)?$""")
CI_RUNS_QUERY = "actions/workflows/ci.yml/runs"
STEP_DIGEST = r"\$\{\{\s*steps\.(?P<step>[\w-]+)\.outputs\.digest\s*\}\}"


def _load(path):
    text = Path(path).read_text(encoding="utf-8")
    return text, yaml.safe_load(text) or {}


def _steps(job):
    return [s for s in (job or {}).get("steps") or [] if isinstance(s, dict)]


def _needs(job):
    needs = (job or {}).get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


# --- workflows ---------------------------------------------------------------


def pin_problems(path, text, doc):
    """Every `uses:` pinned to a commit SHA, with its tag in a comment."""
    problems, pins = [], []
    lines = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = USES_LINE.match(line)
        if match:
            lines.setdefault(match["ref"], []).append((number, match["comment"] or ""))
    refs = {}
    for job_id, job in (doc.get("jobs") or {}).items():
        if isinstance(job, dict) and "uses" in job:
            refs.setdefault(job["uses"], job_id)
        for step in _steps(job):
            if "uses" in step:
                refs.setdefault(step["uses"], job_id)
    for ref, job_id in refs.items():
        if ref.startswith("./"):
            continue
        if ref.startswith("docker://"):
            if not DIGEST.search(ref):
                problems.append(f"{path}: job {job_id}: {ref} is not pinned by @sha256 digest")
            continue
        if ref not in lines:
            problems.append(
                f"{path}: job {job_id}: write `uses: {ref}` on a line of its own, "
                "so its pin and tag comment can be read"
            )
            continue
        name, _, version = ref.partition("@")
        for number, comment in lines[ref]:
            where = f"{path}:{number}: {name}"
            if not SHA.fullmatch(version):
                pins.append(
                    (
                        number,
                        f"{where}@{version} is not pinned to a full commit SHA "
                        f"(uses: {name}@<40 hex> # vX.Y.Z)",
                    )
                )
            elif not TAG_COMMENT.fullmatch(comment.strip()):
                pins.append((number, f'{where} has no "# vX.Y.Z" comment naming the tag of {version}'))
    return problems + [problem for _, problem in sorted(pins)]


# --- release -----------------------------------------------------------------


def _env(*scopes):
    merged = {}
    for scope in scopes:
        merged.update({str(k): str(v) for k, v in ((scope or {}).get("env") or {}).items()})
    return merged


def _commands(run, word):
    """The `cosign <word>` commands of a script, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", run or "")
    return [line for line in joined.splitlines() if re.search(rf"\bcosign\s+{word}(?![\w-])", line)]


def _digest_step(command, env):
    """The step whose digest output the command's image reference names, if any."""
    expanded = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m[1], m[0]), command)
    match = re.search("@" + STEP_DIGEST, expanded)
    return match["step"] if match else None


def _permissions(doc, job):
    perms = job.get("permissions", doc.get("permissions"))
    return perms if isinstance(perms, dict) else {}


def _closure(jobs, job_id):
    seen, todo = set(), list(_needs(jobs.get(job_id)))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(_needs(jobs.get(current)))
    return seen


def _signed_by_digest(path, job_id, doc, job, step, build_ids, word, what):
    problems = []
    commands = _commands(step.get("run"), word)
    env = _env(doc, job, step)
    for command in commands:
        step_id = _digest_step(command, env)
        if step_id and step_id not in build_ids:
            problems.append(
                f"{path}: job {job_id}: `cosign {word}` names the digest of step {step_id}, "
                f"which does not build the image ({', '.join(sorted(build_ids)) or 'no id'})"
            )
        elif not step_id:
            problems.append(
                f"{path}: job {job_id}: `cosign {word}` {what} by tag, not by digest "
                f"(use ...@${{{{ steps.<build id>.outputs.digest }}}} or an env var of it)"
            )
        if re.search(r"\s--key\b", command):
            problems.append(f"{path}: job {job_id}: `cosign {word}` uses --key; the release signs keyless")
        if not re.search(r"\s(--yes|-y)\b", command):
            problems.append(f"{path}: job {job_id}: `cosign {word}` needs --yes to run unattended")
    return commands, problems


def release_problems(path, doc):
    problems = []
    jobs = doc.get("jobs") or {}
    gates = [
        job_id
        for job_id, job in jobs.items()
        if any(
            CI_RUNS_QUERY in (s.get("run") or "")
            and "head_sha=" in s.get("run")
            and "status=success" in s.get("run")
            for s in _steps(job)
        )
    ]
    if not gates:
        problems.append(
            f"{path}: no job requires a successful CI run of the tagged commit "
            f"(gh api .../{CI_RUNS_QUERY}?head_sha=...&status=success)"
        )
    for gate in gates:
        if _permissions(doc, jobs[gate]).get("actions") not in ("read", "write"):
            problems.append(f"{path}: job {gate}: reading CI runs needs `permissions: actions: read`")
        if not any("GH_TOKEN" in _env(doc, jobs[gate], s) for s in _steps(jobs[gate])):
            problems.append(f"{path}: job {gate}: gh needs GH_TOKEN in its env")

    image_jobs = {}
    for job_id, job in jobs.items():
        builds = [
            s
            for s in _steps(job)
            if str(s.get("uses", "")).startswith("docker/build-push-action@")
            and str((s.get("with") or {}).get("push", "")).lower() == "true"
        ]
        if builds:
            image_jobs[job_id] = builds
    if not image_jobs:
        problems.append(f"{path}: no job pushes an image (docker/build-push-action with push: true)")

    uploads = any(
        (
            str(s.get("uses", "")).startswith("actions/upload-artifact@")
            and "sbom" in str((s.get("with") or {}).get("path", ""))
        )
        or re.search(r"\bgh\s+release\s+(upload|create)\b[^\n]*sbom", s.get("run") or "")
        for job in jobs.values()
        for s in _steps(job)
    )
    if not uploads:
        problems.append(f"{path}: the SBOM is neither uploaded as an artifact nor attached to the release")

    for job_id, builds in image_jobs.items():
        job = jobs[job_id]
        missing = [g for g in gates if g not in _closure(jobs, job_id)]
        if not gates or missing:
            problems.append(
                f"{path}: job {job_id} pushes the image but does not need the CI gate "
                f"({', '.join(missing or gates) or 'none found'})"
            )
        build_ids = {b.get("id") for b in builds if b.get("id")}
        if not build_ids:
            problems.append(f"{path}: job {job_id}: the build step needs an id, to sign its digest output")
        signs, attests, makes_sbom = [], [], False
        for step in _steps(job):
            found, step_problems = _signed_by_digest(path, job_id, doc, job, step, build_ids, "sign", "signs")
            signs += found
            problems += step_problems
            found, step_problems = _signed_by_digest(
                path, job_id, doc, job, step, build_ids, "attest", "attests"
            )
            attests += [c for c in found if re.search(r"--type[ =]cyclonedx\b", c) and "--predicate" in c]
            problems += step_problems
            makes_sbom = makes_sbom or bool(re.search(r"\bmake\s+sbom\b", step.get("run") or ""))
        if not signs:
            problems.append(f"{path}: job {job_id} pushes the image but does not sign it (cosign sign)")
        if not attests:
            problems.append(
                f"{path}: job {job_id} does not attest the SBOM "
                "(cosign attest --type cyclonedx --predicate ...)"
            )
        if not makes_sbom:
            problems.append(f"{path}: job {job_id} does not make the SBOM with `make sbom`")
        if (signs or attests) and _permissions(doc, job).get("id-token") != "write":
            problems.append(f"{path}: job {job_id} signs keyless but lacks `permissions: id-token: write`")
    return problems


# --- Dockerfile ----------------------------------------------------------------


def dockerfile_problems(file):
    problems = []
    path = _rel(file)
    text = Path(file).read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    instructions = [
        line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")
    ]
    args, stages, runs = {}, set(), []
    for line in instructions:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages and "=" in rest:
            name, _, value = rest.strip().partition("=")
            args[name] = value.strip("\"'")
        elif keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m[1], m[0]), words[0])
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
            if image.lower() in stages or image == "scratch":
                continue
            if not DIGEST.search(image):
                problems.append(f"{path}: FROM {image} is not pinned by @sha256:<64 hex> digest")
            elif ":" not in image.split("@")[0].rsplit("/", 1)[-1]:
                problems.append(f"{path}: FROM {image}: keep the tag beside the digest (name:tag@sha256:...)")
        elif keyword == "RUN":
            runs.append(rest)
    if not any(re.search(r"\bcargo\s+auditable\s+build\b", run) for run in runs):
        problems.append(f"{path}: the binary is not built with `cargo auditable build`")
    for run in runs:
        if re.search(r"\bcargo\s+build\b", run):
            problems.append(f"{path}: plain `cargo build` (use `cargo auditable build`): {run.strip()[:80]}")
    if not any(
        re.search(r"cargo\s+install\s+(?:[^&;]*\s)?cargo-auditable(@\S+|\s+--version\s+\S+)", run)
        for run in runs
    ):
        problems.append(f"{path}: cargo-auditable is not installed at a pinned version")
    return problems


# --- Dependabot ----------------------------------------------------------------


def dependabot_problems(file):
    path = _rel(file)
    _, doc = _load(file)
    covered = {
        u.get("package-ecosystem")
        for u in doc.get("updates") or []
        if u.get("directory") == "/" or "/" in (u.get("directories") or [])
    }
    return [
        f"{path}: no `{ecosystem}` update for directory / ({why})"
        for ecosystem, why in (
            ("github-actions", "it keeps the workflows' SHA pins and their tag comments current"),
            ("docker", "it keeps the Dockerfile's base image digests current"),
        )
        if ecosystem not in covered
    ]


# --- entry points ----------------------------------------------------------------


def default_inputs(root=ROOT):
    workflows = sorted((root / ".github" / "workflows").glob("*.y*ml"))
    return {
        "workflows": workflows,
        "release": root / ".github" / "workflows" / "release.yml",
        "dockerfile": root / "Dockerfile",
        "dependabot": root / ".github" / "dependabot.yml",
    }


def problems_of(inputs):
    problems = []
    for workflow in inputs["workflows"]:
        text, doc = _load(workflow)
        problems += pin_problems(_rel(workflow), text, doc)
    _, release = _load(inputs["release"])
    problems += release_problems(_rel(inputs["release"]), release)
    problems += dockerfile_problems(inputs["dockerfile"])
    problems += dependabot_problems(inputs["dependabot"])
    return problems


def _rel(path):
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# Each bad fixture replaces one input (an extra workflow, the release
# workflow, the Dockerfile, the Dependabot file) and must be rejected with a
# problem that contains the text given here.
SELF_TEST = (
    ("unpinned-action.yml", "workflow", "is not pinned to a full commit SHA"),
    ("pin-without-tag.yml", "workflow", 'has no "# vX.Y.Z" comment'),
    ("release-without-gate.yml", "release", "does not need the CI gate"),
    ("release-unsigned.yml", "release", "does not sign it"),
    ("release-signs-tag.yml", "release", "signs by tag, not by digest"),
    ("release-without-sbom.yml", "release", "does not attest the SBOM"),
    ("no-digest.Dockerfile", "dockerfile", "is not pinned by @sha256"),
    ("plain-build.Dockerfile", "dockerfile", "not built with `cargo auditable build`"),
    ("dependabot-without-docker.yml", "dependabot", "no `docker` update"),
)


def self_test():
    """Failures of the rules themselves: a bad fixture accepted, or a real file rejected."""
    failures = []
    for fixture, replaces, expected in SELF_TEST:
        inputs = default_inputs()
        path = FIXTURES / fixture
        if replaces == "workflow":
            inputs["workflows"] = inputs["workflows"] + [path]
        else:
            if replaces == "release":
                inputs["workflows"] = [w for w in inputs["workflows"] if w != inputs["release"]] + [path]
            inputs[replaces] = path
        found = problems_of(inputs)
        if not any(expected in p for p in found):
            failures.append(
                f"{_rel(path)} was not rejected for {expected!r}; problems found: {found or 'none'}"
            )
    real = problems_of(default_inputs())
    if real:
        failures.append("the real files were rejected:\n    " + "\n    ".join(real))
    return failures
