"""examples/ci and .pre-commit-hooks.yaml: valid for the tools that read them, and they work.

- The workflow validates against GitHub Actions' workflow schema (check-jsonschema's vendored copy,
  offline), and its steps are wired as documented: checkout with the history, Python 3.11,
  `specc validate`, `specc diff --base origin/<target> --format markdown`, one comment found again
  by the marker `specc diff` writes, and a plan only when cluster credentials are present.
- Its shell steps run for real here, in a clone whose `origin/main` is the target branch, with the
  variables GitHub would set; its comment script (actions/github-script) runs under Node with a
  stand-in for GitHub's API, so "post or update ONE comment" is checked, not assumed.
- The pre-commit manifest is read by pre-commit's own loader, and its hook picks the files it should
  and runs `specc validate` on them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from identify.identify import tags_from_filename
from pre_commit.clientlib import MANIFEST_HOOK_DICT, load_manifest

from specc.report.review import MARKER

from .conftest import CASES, EXAMPLES, ROOT

WORKFLOW = EXAMPLES / "ci" / "github-actions.yml"
HOOKS = ROOT / ".pre-commit-hooks.yaml"
OLD = (CASES / "diff" / "canary-step" / "old.yaml").read_text(encoding="utf-8")
NEW = (CASES / "diff" / "canary-step" / "new.yaml").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent  # where the venv's `specc` is


def workflow() -> dict[Any, Any]:
    data: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def triggers(data: dict[Any, Any]) -> dict[str, Any]:
    on = data.get("on", data.get(True))  # YAML 1.1 (PyYAML) reads the key `on` as true
    assert isinstance(on, dict)
    return dict(on)


def step(job: dict[str, Any], fragment: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in job["steps"] if fragment in s.get("run", "") or fragment == s.get("name")]
    assert len(found) == 1, f"expected one step with {fragment!r}, found {len(found)}"
    return found[0]


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(action + "@")]


# -- schema ----------------------------------------------------------------------------------------

def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True, timeout=120, check=False)


def test_workflow_is_valid_for_github_actions() -> None:
    result = check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    data = workflow()
    del data["jobs"]["diff"]["runs-on"]
    data["jobs"]["diff"]["steps"][0]["with"]["fetch-depth"] = "all"
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert check_jsonschema(broken).returncode != 0


# -- wiring ----------------------------------------------------------------------------------------

def test_workflow_runs_on_pull_requests_that_touch_the_spec() -> None:
    data = workflow()
    spec = data["env"]["SPEC"]
    assert spec in triggers(data)["pull_request"]["paths"]
    assert data["permissions"] == {"contents": "read", "pull-requests": "write"}


def test_diff_job_steps() -> None:
    job = workflow()["jobs"]["diff"]
    (checkout,) = uses(job, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0
    (python,) = uses(job, "actions/setup-python")
    assert str(python["with"]["python-version"]) == "3.11"
    assert 'pip install "$SPECC_PACKAGE"' in step(job, "pip install")["run"]
    assert workflow()["env"]["SPECC_PACKAGE"].startswith("specc")
    assert step(job, "specc validate")["run"].strip() == 'specc validate "$SPEC"'
    diff = step(job, "specc diff")
    assert diff["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert 'specc diff "$SPEC" --base "origin/$BASE_REF" --format markdown > specc-diff.md' in diff["run"]
    names = [s.get("name") or s.get("uses") for s in job["steps"]]
    assert names.index("Validate") < names.index("Diff against the target branch")


def test_no_expression_is_pasted_into_a_script() -> None:
    # GitHub's hardening guide: values reach scripts through the environment, never as ${{ }} text.
    for name, job in workflow()["jobs"].items():
        for s in job["steps"]:
            assert "${{" not in s.get("run", ""), f"{name}: {s.get('name')}"
            assert "${{" not in (s.get("with") or {}).get("script", ""), f"{name}: {s.get('name')}"


def test_comments_are_found_by_the_marker_specc_writes() -> None:
    jobs = workflow()["jobs"]
    (diff_post,) = uses(jobs["diff"], "actions/github-script")
    (plan_post,) = uses(jobs["plan"], "actions/github-script")
    assert diff_post["env"] == {"MARKER": MARKER, "REPORT": "specc-diff.md"}
    assert plan_post["env"]["MARKER"] == "<!-- specc-plan -->" and plan_post["env"]["MARKER"] != MARKER
    assert diff_post["with"]["script"] == plan_post["with"]["script"], "the two copies of the script drifted"
    assert "<!-- specc-plan -->" in step(jobs["plan"], "specc plan")["run"]


def test_plan_runs_only_with_cluster_credentials() -> None:
    job = workflow()["jobs"]["plan"]
    assert job["env"]["KUBECONFIG_DATA"] == "${{ secrets.SPECC_KUBECONFIG }}"
    gated = [s for s in job["steps"] if s.get("if") == "env.KUBECONFIG_DATA != ''"]
    notice = [s for s in job["steps"] if s.get("if") == "env.KUBECONFIG_DATA == ''"]
    assert len(notice) == 1 and len(gated) == len(job["steps"]) - 1
    plan = step(job, "specc plan")["run"]
    assert 'specc plan "$SPEC" --kubeconfig "$kubeconfig" --format markdown' in plan
    assert "trap 'rm -f \"$kubeconfig\"' EXIT" in plan and "umask 077" in plan


# -- the shell steps, run ----------------------------------------------------------------------------

@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "test@example.com", "GIT_CEILING_DIRECTORIES": str(tmp_path)}


def git(cwd: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)


def pull_request_checkout(tmp_path: Path, env: dict[str, str], base_spec: str | None, head_spec: str) -> Path:
    """A clone as actions/checkout leaves it: origin/main is the target, HEAD the pull request."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    git(upstream, env, "init", "-q", "-b", "main")
    (upstream / "README.md").write_text("models\n")
    if base_spec is not None:
        (upstream / "serving.yaml").write_text(base_spec)
    git(upstream, env, "add", ".")
    git(upstream, env, "commit", "-q", "-m", "base")
    work = tmp_path / "work"
    git(tmp_path, env, "clone", "-q", str(upstream), str(work))
    git(work, env, "checkout", "-q", "-b", "pull-request")
    (work / "serving.yaml").write_text(head_spec)
    git(work, env, "add", ".")
    git(work, env, "commit", "-q", "-m", "change the spec")
    return work


def run_step(job: str, fragment: str, cwd: Path, env: dict[str, str],
             summary: Path) -> subprocess.CompletedProcess[str]:
    data = workflow()
    s = step(data["jobs"][job], fragment)
    variables = {**env, **data["env"], "BASE_REF": "main", "GITHUB_STEP_SUMMARY": str(summary),
                 "PATH": f"{BIN}{os.pathsep}{env['PATH']}"}
    assert set(s.get("env", {})) <= {"BASE_REF"}, "a new step variable needs a value here"
    # GitHub runs `run:` with `bash -e {0}` (plus pipefail when `shell: bash` is given).
    return subprocess.run(["bash", "-e", "-c", s["run"]], cwd=cwd, env=variables, capture_output=True, text=True,
                          timeout=180, check=False)


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("bash") is None, reason="needs git and bash")
def test_validate_and_diff_steps_run(tmp_path: Path, git_env: dict[str, str]) -> None:
    work = pull_request_checkout(tmp_path, git_env, OLD, NEW)
    summary = tmp_path / "summary.md"
    validated = run_step("diff", "specc validate", work, git_env, summary)
    assert validated.returncode == 0, validated.stderr
    diffed = run_step("diff", "specc diff", work, git_env, summary)
    assert diffed.returncode == 0, diffed.stderr
    report = (work / "specc-diff.md").read_text(encoding="utf-8")
    assert report.startswith(MARKER + "\n")
    assert "canary traffic 10% → 50%" in report and "<code>origin/main:serving.yaml</code>" in report
    assert summary.read_text(encoding="utf-8") == report


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("bash") is None, reason="needs git and bash")
def test_a_spec_new_in_the_pull_request_gets_a_note(tmp_path: Path, git_env: dict[str, str]) -> None:
    work = pull_request_checkout(tmp_path, git_env, None, NEW)
    diffed = run_step("diff", "specc diff", work, git_env, tmp_path / "summary.md")
    assert diffed.returncode == 0, diffed.stderr
    report = (work / "specc-diff.md").read_text(encoding="utf-8")
    assert report.startswith(MARKER + "\n") and "`serving.yaml` is new in this pull request" in report


@pytest.mark.skipif(shutil.which("git") is None or shutil.which("bash") is None, reason="needs git and bash")
def test_an_invalid_spec_fails_the_job(tmp_path: Path, git_env: dict[str, str]) -> None:
    bad = NEW.replace("replicas: {min: 4, max: 8}", "replicas: {min: 9, max: 8}")
    work = pull_request_checkout(tmp_path, git_env, OLD, bad)
    validated = run_step("diff", "specc validate", work, git_env, tmp_path / "summary.md")
    assert validated.returncode == 1
    assert re.search(r"^serving\.yaml:[0-9]+:[0-9]+: .*\[R301\]$", validated.stderr, re.MULTILINE), validated.stderr


# -- the comment script, run under Node ------------------------------------------------------------------

# What actions/github-script gives a script (require, github, context, core), with GitHub's API
# replaced by a recorder that answers the comment listing from $EXISTING.
HARNESS = r"""
const fs = require('fs');
const script = fs.readFileSync(process.argv[2], 'utf8');
const existing = JSON.parse(process.env.EXISTING);
const calls = [];
const listComments = async () => { throw new Error('list comments through github.paginate'); };
const github = {
  rest: { issues: {
    listComments,
    createComment: async (p) => { calls.push({ call: 'create', ...p }); return { data: {} }; },
    updateComment: async (p) => { calls.push({ call: 'update', ...p }); return { data: {} }; },
  } },
  paginate: async (fn, params) => {
    if (fn !== listComments) throw new Error('unexpected paginate');
    calls.push({ call: 'list', ...params });
    return existing;
  },
};
const context = { repo: { owner: 'acme', repo: 'models' }, issue: { number: 7 } };
const core = { setFailed: (message) => calls.push({ call: 'failed', message }) };
const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
new AsyncFunction('require', 'github', 'context', 'core', script)(require, github, context, core)
  .then(() => console.log(JSON.stringify(calls)))
  .catch((error) => { console.error(error); process.exit(1); });
"""
LIST = {"call": "list", "owner": "acme", "repo": "models", "issue_number": 7, "per_page": 100}
BOT, PERSON = {"login": "github-actions[bot]", "type": "Bot"}, {"login": "alice", "type": "User"}


def run_comment_script(tmp_path: Path, report: str, existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (post,) = uses(workflow()["jobs"]["diff"], "actions/github-script")
    (tmp_path / "script.js").write_text(post["with"]["script"], encoding="utf-8")
    (tmp_path / "harness.js").write_text(HARNESS, encoding="utf-8")
    (tmp_path / post["env"]["REPORT"]).write_text(report, encoding="utf-8")
    done = subprocess.run(["node", "harness.js", "script.js"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, check=False, env={**os.environ, **post["env"], "EXISTING": json.dumps(existing)})
    assert done.returncode == 0, done.stderr
    calls: list[dict[str, Any]] = json.loads(done.stdout)
    return calls


REPORT = f"{MARKER}\n### specc diff\n\nsomething changed\n"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js (github-script runs on it)")


@needs_node
def test_first_run_creates_the_comment(tmp_path: Path) -> None:
    calls = run_comment_script(tmp_path, REPORT, [{"id": 1, "user": PERSON, "body": "LGTM"}])
    assert calls == [LIST, {"call": "create", "owner": "acme", "repo": "models", "issue_number": 7, "body": REPORT}]


@needs_node
def test_next_runs_update_the_same_comment(tmp_path: Path) -> None:
    existing = [{"id": 1, "user": PERSON, "body": "LGTM"},
                {"id": 42, "user": BOT, "body": f"{MARKER}\n### specc diff\n\nold report\n"}]
    calls = run_comment_script(tmp_path, REPORT, existing)
    assert calls == [LIST, {"call": "update", "owner": "acme", "repo": "models", "comment_id": 42, "body": REPORT}]


@needs_node
def test_an_unchanged_report_is_not_posted_again(tmp_path: Path) -> None:
    assert run_comment_script(tmp_path, REPORT, [{"id": 42, "user": BOT, "body": REPORT}]) == [LIST]


@needs_node
def test_other_comments_with_markers_are_left_alone(tmp_path: Path) -> None:
    existing = [{"id": 5, "user": PERSON, "body": f"{MARKER}\nquoting the bot"},
                {"id": 6, "user": BOT, "body": "<!-- specc-plan -->\n### specc plan\n"}]
    calls = run_comment_script(tmp_path, REPORT, existing)
    assert [c["call"] for c in calls] == ["list", "create"]


@needs_node
def test_a_report_without_the_marker_is_refused(tmp_path: Path) -> None:
    calls = run_comment_script(tmp_path, "### specc diff\n", [])
    assert [c["call"] for c in calls] == ["failed"]


# -- pre-commit ---------------------------------------------------------------------------------------

def hook() -> dict[str, Any]:
    hooks = load_manifest(str(HOOKS))  # pre-commit's own validation; raises InvalidManifestError
    by_id: dict[str, dict[str, Any]] = {h["id"]: h for h in hooks}
    assert set(by_id) == {"specc-validate"}
    return by_id["specc-validate"]


def test_pre_commit_manifest_is_valid() -> None:
    written = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    known = {item.key for item in MANIFEST_HOOK_DICT.items}
    for entry in written:
        assert set(entry) <= known, f"keys pre-commit does not know: {set(entry) - known}"
    found = hook()
    assert found["language"] == "python" and found["entry"] == "specc validate"
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert shlex.split(found["entry"])[0] in scripts


def selected(found: dict[str, Any], path: str) -> bool:
    """pre-commit's choice of files for a hook: `files`/`exclude` regexes, then `types`."""
    return (re.search(found["files"], path) is not None and re.search(found["exclude"], path) is None
            and set(found["types"]) <= tags_from_filename(path))


@pytest.mark.parametrize(("path", "expected"), [
    ("serving.yaml", True), ("serving.yml", True), ("deploy/prod/serving.yaml", True),
    ("my-serving.yaml", False), ("serving.yaml.bak", False), ("serving.json", False), ("values.yaml", False),
])
def test_pre_commit_hook_picks_spec_files(path: str, expected: bool) -> None:
    assert selected(hook(), path) is expected


def test_pre_commit_hook_entry_validates_the_files(tmp_path: Path) -> None:
    found = hook()
    command = [str(BIN / shlex.split(found["entry"])[0]), *shlex.split(found["entry"])[1:], *found["args"]]
    good = sorted(str(p.relative_to(ROOT)) for p in EXAMPLES.glob("*/serving.yaml"))
    assert good and all(selected(found, p) for p in good)
    passed = subprocess.run([*command, *good], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert passed.returncode == 0, passed.stderr
    bad = tmp_path / "serving.yaml"
    bad.write_text((CASES / "diff" / "invalid-new" / "new.yaml").read_text(encoding="utf-8"))
    failed = subprocess.run([*command, str(bad)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert failed.returncode == 1 and f"{bad}:17:21:" in failed.stderr
