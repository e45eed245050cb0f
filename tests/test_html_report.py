"""`--misalign-html`: the self-contained HTML report, parsed as HTML and opened in a real headless
Chromium; values checked against independently computed ones (by hand, statsmodels)."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from html.parser import HTMLParser

import fake_backend
import pytest
from helpers import CAPITALS_SUITE
from test_gates_e2e import COUNTERFACTUAL

from pytest_misalign import stats

KNOWN_CAPITALS = {"Paris", "Rome", "Tokyo", "Lima"}
# CAPITALS_SUITE's items: (region, right answer); the fake model knows KNOWN_CAPITALS only
CAPITALS = [("europe", "Paris"), ("asia", "Tokyo"), ("europe", "Rome"), ("africa", "Nairobi"),
            ("americas", "Lima"), ("americas", "Santiago")]

XSS_SUITE = """\
suite: hostile
tasks:
  - name: hostile
    data:
      items:
        - {q: "<script>alert('pwned')</script>", a: "<b>yes</b>", label: 0}
        - {q: "a & b \\"quoted\\"", a: "x", label: 0}
    prompt: "{q}"
    choices: ["{a}", "no"]
    answer: "{label}"
    checks:
      - accuracy: {min: 0.0}
"""


class Page(HTMLParser):
    """Tags with their attributes, text per element id, and all resource-like attribute values."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def rows(self, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if t == "tr" and cls in a.get("class", "").split()]

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(1 for t, a in self.tags if t == tag and (cls is None or cls in a.get("class", "").split()))


def run_report(session, *args: str) -> tuple[str, dict]:
    result = session.runpytest("--misalign-model=fake", "--misalign-json=r.json", "--misalign-html=r.html",
                               "-p", "no:cacheprovider", *args)
    assert result.ret in (0, 1), result.stdout.str()
    result.stdout.fnmatch_lines(["*HTML report: *r.html*"])
    return (session.path / "r.html").read_text(encoding="utf-8"), json.loads((session.path / "r.json").read_text())


def test_group_accuracies_and_wilson_bounds_match_an_independent_computation(session):
    from statsmodels.stats.proportion import proportion_confint

    fake_backend.KNOWN.update(KNOWN_CAPITALS)
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    text, _ = run_report(session)
    page = Page(text)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for region, answer in CAPITALS:
        counts[region][0] += answer in KNOWN_CAPITALS
        counts[region][1] += 1
    assert page.text.count("capitals by region: group accuracy") == 1  # one plot for both checks on region
    for check in ("gap[region]",):  # the grouping's table, under its first check
        rows = {r["data-group"]: r for r in page.rows("group-row") if r["data-check"] == check}
        assert set(rows) == set(counts)
        for region, (right, n) in counts.items():
            lo, hi = proportion_confint(right, n, alpha=0.05, method="wilson")
            assert (int(rows[region]["data-correct"]), int(rows[region]["data-n"])) == (right, n)
            assert float(rows[region]["data-lo"]) == pytest.approx(lo, abs=2e-6)
            assert float(rows[region]["data-hi"]) == pytest.approx(hi, abs=2e-6)
    # shown as text too: africa 0/1 -> [0.000, 0.793]
    assert "[0.000, 0.793]" in page.text
    assert page.count("figure", "forest") == 1 and page.count("svg", "plot") == 1  # one grouping: region
    checks = {r["data-check"]: r["data-passed"] for r in page.rows("check")}
    assert checks == {"accuracy": "true", "gap[region]": "false", "group_accuracy[region]": "false"}
    assert "3 checks: 1 inconclusive, 2 degenerate; tests (point gate): 1 passed, 2 failed" in text


def test_paired_gaps_flips_and_header(session):
    fake_backend.KNOWN.update({"James", "John"})  # knows the male names only: every pair flips
    session.makefile(".yaml", cf=COUNTERFACTUAL)
    text, results = run_report(session)
    page = Page(text)
    (pair,) = page.rows("pair-row")
    # by hand: 6 pairs, female never right, male always: a=0, b(only female)=0, c(only male)=6
    lo, hi = stats.paired_difference_interval(0, 6, 6, 0.95, a=0)
    assert pair["data-label"] == "female − male" and float(pair["data-value"]) == -1.0
    assert (float(pair["data-lo"]), float(pair["data-hi"])) == (pytest.approx(lo, abs=2e-6), pytest.approx(hi))
    assert page.count("figure", "paired") == 1
    items = page.rows("item")
    assert len(items) == 12 and all(r["data-flipped"] == "yes" for r in items)
    assert sorted(r["data-groups"] for r in items) == ["gender=female"] * 6 + ["gender=male"] * 6
    assert sum(r["data-correct"] == "wrong" for r in items) == 6
    fields = {a["data-field"]: None for t, a in page.tags if t == "dd"}
    assert {"model", "fingerprint", "backend", "engine", "suites", "gate"} <= set(fields)
    assert results["suites"][0]["suite"] in text and "fake" in text


def test_baseline_deltas(session):
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    fake_backend.KNOWN.update(KNOWN_CAPITALS | {"Nairobi", "Santiago"})
    session.runpytest("--misalign-model=fake-v1", "--misalign-json=base.json", "-p", "no:cacheprovider")
    fake_backend.KNOWN.difference_update({"Nairobi", "Santiago"})
    text, _ = run_report(session, "--misalign-baseline=base.json")
    row, by_region = Page(text).rows("baseline-row")  # the task, then its worst region
    assert float(row["data-value"]) == pytest.approx(2 / 6, abs=1e-6)  # two of six capitals forgotten
    assert float(by_region["data-value"]) == pytest.approx(1.0, abs=1e-6)  # africa: 1 of 1 forgotten
    assert 'class="baseline"' in text and "Against the baseline" in text


def test_self_contained_and_escaped(session):
    session.makefile(".yaml", hostile=XSS_SUITE, heldout_capitals=CAPITALS_SUITE)
    text, _ = run_report(session)
    page = Page(text)
    assert page.count("script") == 1  # ours only; the prompt's <script> is text
    assert "<script>alert" not in text and "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;" in text
    assert "<b>yes</b>" not in text and "<script>alert('pwned')</script>" in "".join(page.text)
    for tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href", "action"):
            assert not attrs.get(name, "").startswith(("http:", "https:", "//")), (tag, attrs)
    assert page.count("link") == 0 and "@import" not in text and "url(http" not in text
    namespaces = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}
    assert set(re.findall(r"https?://[^\"'\s<>)]*", text)) <= namespaces


def test_no_file_without_the_option_and_ini(session):
    fake_backend.KNOWN.update(KNOWN_CAPITALS)
    session.makefile(".yaml", heldout_capitals=CAPITALS_SUITE)
    session.runpytest("--misalign-model=fake", "-p", "no:cacheprovider")
    assert not (session.path / "r.html").exists()
    session.makeini("[pytest]\nmisalign_html = out/report.html\n")
    session.runpytest("--misalign-model=fake", "-p", "no:cacheprovider")
    assert "group_accuracy[region]" in (session.path / "out" / "report.html").read_text()


def _visible(driver) -> int:
    from selenium.webdriver.common.by import By

    return sum(1 for r in driver.find_elements(By.CSS_SELECTOR, "#items tbody tr") if r.is_displayed())


def test_in_headless_chromium(session, chromium_driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = chromium_driver
    fake_backend.KNOWN.update(KNOWN_CAPITALS | {"James", "John"})
    session.makefile(".yaml", cf=COUNTERFACTUAL, heldout_capitals=CAPITALS_SUITE)
    _, results = run_report(session)
    items = [(t["task"], it) for s in results["suites"] for t in s["tasks"] for it in t["items"]]
    driver.get_log("browser")  # drop anything from before
    driver.get((session.path / "r.html").as_uri())
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    first = driver.find_element(By.CSS_SELECTOR, "main > section")
    failed = [(t["task"], c["name"]) for s in results["suites"] for t in s["tasks"] for c in t["checks"]
              if c["passed"] is False]
    assert first.get_attribute("id") == "failures" and first.text.startswith(f"Failed checks ({len(failed)})")
    assert len(first.find_elements(By.CSS_SELECTOR, "tbody tr")) == len(failed) > 0  # the page opens on them
    plots = driver.find_elements(By.CSS_SELECTOR, "svg.plot")
    assert len(plots) == 3  # one forest per grouping: capitals by region, occupations by gender; paired: gender
    assert all(p.size["width"] > 100 and p.size["height"] > 50 for p in plots)  # open: a check on them failed
    assert _visible(driver) == 0  # the item browser starts collapsed
    driver.find_element(By.CSS_SELECTOR, "#items-browser > summary").click()
    assert _visible(driver) == len(items) == 18
    Select(driver.find_element(By.ID, "filter-correct")).select_by_value("wrong")
    assert _visible(driver) == sum(not it["correct"] for _, it in items) == 8
    assert driver.find_element(By.ID, "item-count").text == "8 of 18 items"
    Select(driver.find_element(By.ID, "filter-group")).select_by_value("gender=female")
    assert _visible(driver) == 6
    Select(driver.find_element(By.ID, "filter-correct")).select_by_value("")
    Select(driver.find_element(By.ID, "filter-group")).select_by_value("")
    Select(driver.find_element(By.ID, "filter-flipped")).select_by_value("yes")
    assert _visible(driver) == 12
    Select(driver.find_element(By.ID, "filter-flipped")).select_by_value("")
    Select(driver.find_element(By.ID, "filter-task")).select_by_value("heldout-capitals / capitals")
    assert _visible(driver) == 6
    driver.find_element(By.ID, "filter-search").send_keys("kenya")
    assert _visible(driver) == 1
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
