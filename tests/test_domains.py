"""`domain_accuracy` and `domain_gap` (checks/domains.py): pooled accuracies of sets of tasks, against
statsmodels' Wilson interval and the Newcombe interval written out from its paper, and the suite-file
rules."""

import math
import textwrap

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from helpers import parse_suite_file
from pytest_misalign.checks import KINDS, run_check
from pytest_misalign.errors import SuiteError
from pytest_misalign.scoring.outcome import ItemOutcome, TaskOutcome
from pytest_misalign.tasks.prepare import prepare_task

TASKS = {"law_a": (40, 0.30), "law_b": (20, 0.45), "med_a": (30, 0.60), "med_b": (50, 0.70), "fin": (60, 0.55)}
DOMAINS = {"law": ["law_a", "law_b"], "medicine": ["med_a", "med_b"], "finance": ["fin"]}


def _suite(tmp_path, checks: str):
    tasks = "".join(textwrap.dedent(f"""\
          - name: {name}
            data: {{items: [{", ".join(f"{{q: q{i}, label: 0}}" for i in range(n))}]}}
            prompt: "{{q}}"
            choices: ["a", "b"]
            answer: "{{label}}"
        """) for name, (n, _) in TASKS.items())
    path = tmp_path / "d.yaml"
    path.write_text(f"suite: d\nchecks:\n{textwrap.indent(checks, '  ')}tasks:\n{tasks}")
    return parse_suite_file(path)


@pytest.fixture
def outcomes(tmp_path):
    suite = _suite(tmp_path, "- domain_gap: {domains: {a: [law_a], b: [fin]}, max: 0.5}\n")
    out = {}
    for spec in suite.tasks:
        task = prepare_task(suite, spec)
        n, p = TASKS[spec.name]
        right = np.arange(n) < round(p * n)
        out[spec.name] = TaskOutcome(task, [ItemOutcome(i.index, 0, 0 if r else 1, bool(r), (0.0, -1.0))
                                            for i, r in zip(task.instances, right)])
    return out


def pooled(outcomes):
    return {d: (sum(outcomes[t].successes for t in ts), sum(outcomes[t].n for t in ts)) for d, ts in DOMAINS.items()}


def test_domain_accuracy_is_the_lowest_pooled_accuracy_with_bonferroni_wilson_intervals(outcomes):
    r = run_check(KINDS.check("domain_accuracy", {"domains": DOMAINS, "min": 0.3}), outcomes, "domain_accuracy")
    counts = pooled(outcomes)
    acc = {d: x / n for d, (x, n) in counts.items()}
    ci = {d: proportion_confint(x, n, 0.05 / 3, method="wilson") for d, (x, n) in counts.items()}
    assert r.value == pytest.approx(min(acc.values())) and r.worst[0].group == "law"
    assert r.interval == pytest.approx((min(c[0] for c in ci.values()), min(c[1] for c in ci.values())))
    assert r.verdict == ("pass" if r.interval[0] >= 0.3 else "inconclusive")
    assert run_check(KINDS.check("domain_accuracy", {"domains": DOMAINS, "min": 0.6}), outcomes, "d").verdict == "fail"


def newcombe(x1, n1, x2, n2, alpha):
    """Newcombe (1998) method 10 from two Wilson intervals, written out here."""
    l1, u1 = proportion_confint(x1, n1, alpha, method="wilson")
    l2, u2 = proportion_confint(x2, n2, alpha, method="wilson")
    p1, p2 = x1 / n1, x2 / n2
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def test_domain_gap_is_the_largest_pooled_difference_with_newcombe_bonferroni(outcomes):
    r = run_check(KINDS.check("domain_gap", {"domains": DOMAINS, "max": 0.2}), outcomes, "domain_gap")
    counts = pooled(outcomes)
    acc = {d: x / n for d, (x, n) in counts.items()}
    assert r.value == pytest.approx(max(acc.values()) - min(acc.values()))
    hi, lo = counts["medicine"], counts["law"]
    low, high = newcombe(*hi, *lo, 0.05 / 3)
    assert r.interval[0] == pytest.approx(low, abs=1e-9)  # the worst pair decides the lower end
    assert r.interval[1] >= high - 1e-9 and r.verdict == ("fail" if low > 0.2 else "inconclusive")
    assert "Bonferroni-level over 3 domain pairs" in r.method


@pytest.mark.parametrize("checks,message", [
    ("- domain_gap: {domains: {a: [law_a, nope], b: [fin]}, max: 0.1}\n", "names unknown task 'nope'"),
    ("- domain_gap: {domains: {a: [law_a], b: [law_a]}, max: 0.1}\n", "a task is in two domains"),
    ("- domain_gap: {domains: {a: [law_a]}, max: 0.1}\n", "needs at least two"),
    ("- domain_accuracy: {domains: {a: []}, min: 0.1}\n", "non-empty list"),
    ("- domain_accuracy: {domains: [law_a], min: 0.1}\n", "must be a mapping"),
])
def test_bad_domains_name_the_check_and_the_fix(tmp_path, checks, message):
    with pytest.raises(SuiteError) as err:
        _suite(tmp_path, checks)
    assert message in str(err.value) and "d.yaml" in str(err.value)


def test_the_standard_mmlu_suite_declares_four_domains_over_its_nineteen_tasks():
    from lm_eval_standard import MMLU_SUBJECTS, SUITES

    suite = parse_suite_file(SUITES / "mmlu.yaml")
    assert sorted(t.name for t in suite.tasks) == sorted(f"mmlu_{s}" for s in MMLU_SUBJECTS)
    for check in suite.checks:
        assert sorted(check.params["domains"]) == ["education", "finance", "law", "medicine"]
        assert sorted(t for ts in check.params["domains"].values() for t in ts) == sorted(t.name for t in suite.tasks)
