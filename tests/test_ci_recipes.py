"""The copy-paste CI recipes in docs/ci/ (GitHub Actions, GitLab CI): valid YAML with the parts a
release gate needs, and their `pytest` and `compare` lines run here as written (on one bundled suite,
with the embedded model and the default caches)."""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
GITHUB = REPO / "docs" / "ci" / "github-release-gate.yml"
GITLAB = REPO / "docs" / "ci" / "gitlab-release-gate.yml"


def _github_steps() -> list[dict]:
    workflow = yaml.safe_load(GITHUB.read_text())
    assert workflow["name"] == "release-gate" and workflow[True]["push"]["tags"] == ["v*"]  # `on:` reads as True
    return workflow["jobs"]["gate"]["steps"]


def _pytest_line(text: str) -> str:
    return " ".join(text.split())


def test_the_github_workflow_has_every_part_of_a_release_gate():
    steps = _github_steps()
    uses = {s.get("uses", "").split("@")[0] for s in steps}
    assert {"actions/checkout", "actions/setup-python", "actions/cache", "actions/upload-artifact"} <= uses
    gate = next(s["run"] for s in steps if s.get("name") == "gate")
    for option in ("--misalign-strict", "--misalign-json=results.json", "--misalign-html=report.html",
                   "--misalign-markdown=summary.md", "--junitxml=junit.xml"):
        assert option in gate
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and "report.html" in upload["with"]["path"]
    assert any("pytest-misalign compare baseline/results.json results.json" in s.get("run", "") for s in steps)


def test_the_gitlab_job_has_every_part_of_a_release_gate():
    job = yaml.safe_load(GITLAB.read_text())["release-gate"]
    script = " ".join(job["script"])
    assert "--misalign-strict" in script and "--misalign-json=results.json" in script
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["reports"]["junit"] == "junit.xml"
    assert ".misalign-cache/" in job["cache"]["paths"]


@pytest.mark.slow
def test_the_recipes_commands_run_as_written(tmp_path):
    """The gate line (on suites/capitals.yaml, not all of suites/) and the compare line, in a shell."""
    steps = _github_steps()
    gate = _pytest_line(next(s["run"] for s in steps if s.get("name") == "gate"))
    gitlab = next(line for line in yaml.safe_load(GITLAB.read_text())["release-gate"]["script"]
                  if line.startswith("pytest "))
    assert shlex.split(gate)[2:] == shlex.split(gitlab)[2:]  # the two recipes run the same gate
    gate = gate.replace("pytest suites/", f"{sys.executable} -m pytest {REPO / 'suites' / 'capitals.yaml'}")
    env = {**os.environ, "MODEL": "smollm2-135m", "PYTEST_MISALIGN_CACHE": str(Path.home() / ".cache" /
                                                                                "pytest-misalign")}
    proc = subprocess.run(["bash", "-c", gate + " -p no:cacheprovider"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]  # a verdict, not a broken setup
    for name in ("results.json", "report.html", "summary.md", "junit.xml"):
        assert (tmp_path / name).is_file(), name
    (tmp_path / "baseline").mkdir()
    shutil.copy(tmp_path / "results.json", tmp_path / "baseline" / "results.json")
    compare = next(s["run"] for s in steps if s.get("name") == "compare with the last release")
    compare = compare.replace("pytest-misalign", f"{sys.executable} -m pytest_misalign")
    env["GITHUB_STEP_SUMMARY"] = str(tmp_path / "step_summary.md")
    proc = subprocess.run(["bash", "-c", compare], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "no confirmed accuracy drop" in (tmp_path / "step_summary.md").read_text()
