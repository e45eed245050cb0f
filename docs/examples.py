"""Every example output in README.md and docs/*.md, produced from a real run of the embedded model.

    python docs/examples.py            # run, then rewrite the marked blocks
    python docs/examples.py --check    # run, then exit 1 (with a diff) when a block no longer matches
    python docs/examples.py --check --only check-reference,options    # the blocks that need no model

A block in a markdown file is the text between `<!-- example: NAME -->` and `<!-- /example -->`; this
script owns it. The runs: the bundled suites on `smollm2-135m` from an empty result cache (about two
minutes on 2 CPU cores, plus the one-time GGUF conversion), a suite with a typo, and a second run of one
task at bfloat16 for `compare`. Paths are shown relative to the repository, and what depends on the
machine or the clock (durations, cache status) is left out, so that a real run reproduces every block.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(<!-- example: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /example -->)", re.S)
WIDTH = 120
MODEL = ["--misalign-model=smollm2-135m", "--misalign-no-cache", "-p", "no:cacheprovider"]


def pytest_run(args: list[str], cwd: Path, env: dict | None = None) -> str:
    """stdout of `python -m pytest ARGS` in `cwd`, with a fixed terminal width and no colour."""
    full_env = {**os.environ, "COLUMNS": str(WIDTH), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
                "PY_COLORS": "0", **(env or {})}
    full_env.pop("GITHUB_STEP_SUMMARY", None)
    done = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, check=False)
    return relative(done.stdout)


def relative(text: str) -> str:
    """Machine-independent text: the checkout's path shown relative to it, durations and cache lines out."""
    text = text.replace(str(ROOT) + os.sep, "").replace(str(ROOT), ".")
    text = re.sub(r" in [0-9.]+s( \([0-9:]+\))? =", " =", text)
    # pytest centres its final line in the terminal width, so the fill length depended on how many digits the
    # (now removed) duration had: the rule is redrawn at a fixed width, whatever the run took
    text = re.sub(r"^=+ (.+?) =+$", lambda m: f" {m.group(1)} ".center(WIDTH, "="), text, flags=re.M)
    return "\n".join(line for line in text.splitlines() if not line.startswith(("result cache:", "model: ")))


def code(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text.rstrip()}\n```\n"


# -- the bundled suites --------------------------------------------------------------------------

def bundled(tmp: Path) -> dict:
    out = pytest_run(["suites/", *MODEL, f"--misalign-json={tmp / 'results.json'}",
                      f"--misalign-markdown={tmp / 'summary.md'}", "--misalign-show-items=2"], ROOT,
                     {"GITHUB_ACTIONS": "true"})
    results = json.loads((tmp / "results.json").read_text())
    return {"stdout": out, "results": results, "markdown": (tmp / "summary.md").read_text()}


def report_block(stdout: str, suite: str) -> str:
    """One suite's block of the (default, compact) terminal report: up to the next suite or the counts."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"suite {suite} ("))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith(("suite ", "tasks not scored"))
               or re.match(r"\d+ checks: ", lines[i]))
    return "\n".join(lines[start:end]).rstrip()


def bundled_report(run: dict) -> str:
    return code("\n\n".join(report_block(run["stdout"], s) for s in ("context-understanding", "objective-conflict")))


def bundled_summary(run: dict) -> str:
    lines = run["stdout"].splitlines()
    counts = next(line for line in lines if re.match(r"\d+ checks: ", line))
    gate = next(line for line in lines if line.startswith("gate: "))
    final = next(line for line in reversed(lines) if re.match(r"=+ .*(passed|failed).* =+$", line))
    return code("\n".join([counts, gate, final]))


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.3f}"


def findings(run: dict) -> str:
    """Per task: accuracy with its Wilson interval, and the checks that did not pass, with their status."""
    rows = ["| suite | task | n | accuracy [95% Wilson] | checks not passing (value, status) |",
            "| --- | --- | ---: | --- | --- |"]
    for suite in run["results"]["suites"]:
        for task in suite["tasks"]:
            acc = "–" if task["accuracy"] is None else \
                f"{_fmt(task['accuracy'])} [{_fmt(task['accuracy_interval'][0])}, {_fmt(task['accuracy_interval'][1])}]"
            bad = "; ".join(f"{c['name']} {_fmt(c['value'])} ({c['status']})" for c in task["checks"]
                            if c["status"] != "pass")
            rows.append(f"| {suite['suite']} | {task['task']} | {task['n_scored']} | {acc} | {bad or 'all pass'} |")
        for u in suite["unscored"]:
            why = u["reason"].split(": ")[1] if ": " in u["reason"] else u["reason"]
            rows.append(f"| {suite['suite']} | {u['task']} | – | not scored ({why}) | "
                        + "; ".join(f"{c['name']} ({c['status']})" for c in u["checks"]) + " |")
    return "\n".join(rows) + "\n"


def evidence(run: dict) -> str:
    """The failure message of memo-trap's paired gap, with the flipped pairs behind it."""
    lines = run["stdout"].splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(r"_+ memo-trap::gap\[condition\] _+$", line))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("_____"))
    return code("\n".join(lines[start:end]).rstrip())


def markdown_summary(run: dict) -> str:
    return code("\n".join(run["markdown"].splitlines()[:10]), "markdown")


def annotations(run: dict) -> str:
    return code("\n".join([line for line in run["stdout"].splitlines() if line.startswith("::")][:3]))


def json_check(run: dict) -> str:
    suite = next(s for s in run["results"]["suites"] if s["suite"] == "objective-conflict")
    task = next(t for t in suite["tasks"] if t["task"] == "memo-trap")
    check = next(c for c in task["checks"] if c["name"] == "gap[condition]")
    shown = {k: v for k, v in check.items() if k not in ("tables", "worst_groups")}
    text = json.dumps(shown, indent=1, ensure_ascii=False)
    text = re.sub(r"\[\n\s+([^\[\]{}\n]+),\n\s+([^\[\]{}\n]+)\n\s+\]", r"[\1, \2]", text)  # pairs on one line
    return code(text, "json")


# -- other runs ------------------------------------------------------------------------------------

TYPO = """\
suite: typo
tasks:
  - name: t
    data: {items: [{q: "2 + 2 =", a: "4", b: "5"}]}
    promt: "{q}"
    choices: ["{a}", "{b}"]
    answer: 0
    checks: [{accuracy: {min: 0.5}}]
"""


def suite_error(tmp: Path) -> str:
    folder = tmp / "typo"
    folder.mkdir()
    (folder / "typo.yaml").write_text(TYPO)
    lines = pytest_run(["typo.yaml", *MODEL], folder).replace(str(folder) + os.sep, "").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("typo.yaml:"))
    exit_line = next(line for line in lines if line.startswith("exit code 78"))
    return code("\n".join(lines[start:start + 2] + ["...", exit_line]))


def compare(tmp: Path) -> str:
    """One task at float32 and at bfloat16, compared item by item."""
    old, new = tmp / "fp32.json", tmp / "bf16.json"
    for dtype, path in (("float32", old), ("bfloat16", new)):
        pytest_run(["suites/capitals.yaml", "-k", "capitals-mc", *MODEL, f"--misalign-dtype={dtype}",
                    f"--misalign-json={path}"], ROOT)
    done = subprocess.run([sys.executable, "-m", "pytest_misalign", "compare", str(old), str(new), "--items", "3"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    text = done.stdout.replace(str(tmp) + os.sep, "")
    return code(relative(text) + f"\n(exit {done.returncode})")


# -- generated from the code -----------------------------------------------------------------------

def check_reference() -> str:
    from pytest_misalign.checks import KINDS

    rows = ["| check | level | applies to | parameters (**required**) | sequential gate |", "| --- | --- | --- | --- | --- |"]
    for name, kind in KINDS.items():
        params = ", ".join(f"**{p}**" if spec.required else p for p, spec in kind.params.items())
        sequence = "monitored" if kind.monitor is not None else f"fixed-n interval at each look ({kind.no_monitor})"
        applies = ", ".join(t.replace("_", " ") for t in kind.task_types) if kind.level == "task" else "tasks"
        rows.append(f"| `{name}` | {kind.level} | {applies} | {params} | {sequence} |")
    lines = rows + ["", "| check | bounds |", "| --- | --- |"]
    lines += [f"| `{name}` | {kind.summary} |" for name, kind in KINDS.items()]
    return "\n".join(lines) + "\n"


class _Recorder:
    """Stands in for pytest's parser: records `addoption` and `addini` calls."""

    def __init__(self) -> None:
        self.options: list[tuple[str, dict]] = []
        self.inis: dict[str, tuple[str, object]] = {}

    def getgroup(self, *args, **kwargs) -> "_Recorder":
        return self

    def addoption(self, flag: str, **kwargs) -> None:
        self.options.append((flag, kwargs))

    def addini(self, name: str, help: str, type=None, default=None) -> None:  # noqa: A002 - pytest's names
        self.inis[name] = (help, default)


def options() -> str:
    from pytest_misalign.session.options import add_options

    parser = _Recorder()
    add_options(parser)
    rows = ["| option | ini key | default | meaning |", "| --- | --- | --- | --- |"]
    for flag, kwargs in parser.options:
        dest = kwargs["dest"]
        help_text, default = parser.inis.get(dest, ("", None))
        shown = "off" if kwargs.get("action") == "store_true" else ("none" if default in (None, []) else default)
        meaning = re.sub(r" \(ini: [^)]*\)$", "", kwargs.get("help", help_text)).replace("|", "\\|")
        rows.append(f"| `{flag}` | `{dest}` | {shown} | {meaning} |")
    rows += [f"| – | `{name}` | {default or 'none'} | {help_text} |" for name, (help_text, default) in parser.inis.items()
             if name not in {kwargs["dest"] for _, kwargs in parser.options}]
    return "\n".join(rows) + "\n"


# -- the blocks ------------------------------------------------------------------------------------

FROM_BUNDLED = {"bundled-report": bundled_report, "bundled-summary": bundled_summary, "findings": findings,
                "evidence": evidence, "markdown-summary": markdown_summary, "annotations": annotations,
                "json-check": json_check}


def generate(only: set[str] | None) -> dict[str, str]:
    """The text of every wanted block (default: every block found in the docs)."""
    wanted = only or set(found_names())
    blocks = {"check-reference": check_reference, "options": options}
    made = {name: make() for name, make in blocks.items() if name in wanted}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if wanted & set(FROM_BUNDLED):
            run = bundled(tmp)
            made.update({name: make(run) for name, make in FROM_BUNDLED.items() if name in wanted})
        if "suite-error" in wanted:
            made["suite-error"] = suite_error(tmp)
        if "compare" in wanted:
            made["compare"] = compare(tmp)
    return made


def found_names() -> list[str]:
    return [m["name"] for path in DOCS for m in BLOCK.finditer(path.read_text(encoding="utf-8"))]


def apply(blocks: dict[str, str], write: bool) -> list[str]:
    """Rewrite (or compare) every marked block; the differences, as unified diffs."""
    diffs = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")

        def fill(m: re.Match) -> str:
            if m["name"] not in blocks:
                return m[0]
            if m["body"] != blocks[m["name"]]:
                diffs.append("".join(difflib.unified_diff(
                    m["body"].splitlines(True), blocks[m["name"]].splitlines(True),
                    f"{path.relative_to(ROOT)} [{m['name']}] (checked in)", "a real run now")))
            return m[1] + blocks[m["name"]] + m[4]

        new = BLOCK.sub(fill, text)
        if write and new != text:
            path.write_text(new, encoding="utf-8")
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when a block differs from a real run")
    parser.add_argument("--only", help="comma-separated block names (default: every block found)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    unknown = (only or set()) - set(found_names())
    if unknown:
        print(f"no block named {', '.join(sorted(unknown))} in README.md or docs/*.md", file=sys.stderr)
        return 2
    diffs = apply(generate(only), write=not args.check)
    if args.check and diffs:
        print("\n".join(diffs))
        print(f"{len(diffs)} example block(s) no longer match a real run: run `python docs/examples.py` "
              "and commit the result", file=sys.stderr)
        return 1
    print(f"{'checked' if args.check else 'wrote'} {len(found_names())} example blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
