"""Every measured figure the docs quote comes from a checked-in result: check it.

    python bench/figures.py            # exit 1 and list every figure no result file backs

In README.md and docs/*.md, measured figures sit in regions that name their sources:

    <!-- figures: bench/results/bbq_vs_lm_eval.json bench/results/sequential_simulation.md -->
    ... prose and tables ...
    <!-- /figures -->

Every number in a region (inline code, link targets and HTML comments left out; numbers glued to a
word, like `float32` or `SmolLM2-135M`, and version strings are not figures) must be a value of one of
its sources as written there: a JSON number (or a number inside a JSON string) or a number in a
markdown file, rounded to the decimals the docs show, possibly as a percentage (x 100). A figure that
no source holds -- typed by hand, or left behind when a result was re-measured -- fails, naming the
file and line. `tests/test_docs.py` runs this in CI; the scripts in bench/ write the sources.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REGION = re.compile(r"<!-- figures: (?P<src>[^>]*?) -->(?P<body>.*?)<!-- /figures -->", re.S)
NUMBER = re.compile(r"(?<![\w.\-/])(?P<n>-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?)(?P<x>[x×])?(?![\w.]*\d|\w)", re.I)
STRIP = [re.compile(r"`[^`]*`"), re.compile(r"\]\([^)]*\)"), re.compile(r"<!--.*?-->", re.S)]


def numbers_in_text(text: str) -> list[float]:
    return [float(m["n"].replace(",", "")) for m in NUMBER.finditer(text)]


def source_values(path: Path) -> list[float]:
    """Every number a result file holds (JSON numbers, and numbers written inside its strings)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".json":
        return numbers_in_text(text)
    out: list[float] = []

    def walk(x) -> None:
        if isinstance(x, bool) or x is None:
            return
        if isinstance(x, (int, float)):
            out.append(float(x))
        elif isinstance(x, str):
            out.extend(numbers_in_text(x))
        elif isinstance(x, (dict, list)):
            for v in x.values() if isinstance(x, dict) else x:
                walk(v)

    walk(json.loads(text))
    return out


def rounding(token: str) -> tuple[str, int]:
    """How the docs show a number: ("sci", mantissa decimals) or ("fixed", decimals)."""
    plain = token.replace(",", "")
    if "e" in plain.lower():
        mantissa = plain.lower().split("e")[0]
        return "sci", len(mantissa.split(".")[1]) if "." in mantissa else 0
    return "fixed", len(plain.split(".")[1]) if "." in plain else 0


class Backing:
    """The values of a region's sources, rounded every way the docs round them (cached per way)."""

    def __init__(self, values: list[float]):
        self.values = [c for v in values for c in (v, 100 * v) if math.isfinite(c)]
        self.inverses = [1 / v for v in values if v and math.isfinite(1 / v)]
        self._rounded: dict[tuple, set[float]] = {}

    def holds(self, token: str, times: bool = False) -> bool:
        """`token` as the docs show it; `times`: written as a factor ("6.6x"), which may be the
        inverse of a ratio the source holds (0.152 -> 6.6x faster)."""
        way = rounding(token)
        for inverse in (False, True) if times else (False,):
            key = (*way, inverse)
            if key not in self._rounded:
                kind, d = way
                values = self.inverses if inverse else self.values
                self._rounded[key] = {float(f"{c:.{d}e}") if kind == "sci" else round(c, d) for c in values}
            if float(token.replace(",", "")) in self._rounded[key]:
                return True
        return False


def check_file(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    problems = []
    for region in REGION.finditer(text):
        sources = [REPO / s for s in region["src"].split()]
        missing = [str(s.relative_to(REPO)) for s in sources if not s.is_file()]
        line0 = text.count("\n", 0, region.start()) + 1
        if missing:
            problems.append(f"{path.relative_to(REPO)}:{line0}: source(s) not found: {', '.join(missing)}")
            continue
        values = Backing([v for s in sources for v in source_values(s)])
        body = region["body"]
        for pattern in STRIP:
            body = pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), body)  # blanked: lines keep their numbers
        for m in NUMBER.finditer(body):
            if not values.holds(m["n"], times=bool(m["x"])):
                line = line0 + region["body"].count("\n", 0, m.start())
                problems.append(f"{path.relative_to(REPO)}:{line}: {m['n']} is in none of {region['src'].strip()}")
    return problems


def docs() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def main() -> int:
    problems = [p for path in docs() for p in check_file(path)]
    regions = sum(len(REGION.findall(path.read_text(encoding="utf-8"))) for path in docs())
    for p in problems:
        print(p)
    print(f"{regions} figure regions, {len(problems)} figure(s) without a source", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
