"""The standard suites (suites/standard/) against lm-evaluation-harness 0.4.13 on the same rows: seeded
subsets of the upstream files in ../shared, scored by the plugin (HF backend, the embedded SmolLM2) and
by lm-eval's own task configurations (tests/lm_eval_standard.py) with lm-eval's HFLM on the same
weights, both in float64 on CPU. Per request the log-likelihoods agree within 1e-4 (measured: up to
~5e-7; not ~1e-14, because transformers' Llama RMSNorm computes in float32 even in a float64 model, so
the two sides' float64 rounding differences pass through float32 at every layer). In float32 both are
~1e-4 off a float64 computation on the long sums of CrowS-Pairs sentences and TruthfulQA answers
(lm-eval up to ~1.2e-4, the plugin ~1e-5): rounding, not a difference in what is computed;
`bench/standard_vs_lm_eval.py --dtype float32` measures it. Given the plugin's log-likelihoods, lm-eval's own metric functions give
the plugin's numbers to 1e-9.

WinoBias is not here: lm-eval has no WinoBias coreference task (suites/standard/winobias.yaml)."""

from __future__ import annotations

import numpy as np
import pytest

import lm_eval_standard as ref
from helpers import parse_suite_file, require_shared
from pytest_misalign.checks import KINDS, run_check
from pytest_misalign.scoring.score import score_task
from pytest_misalign.tasks.prepare import prepare_task

pytestmark = pytest.mark.slow

# (suite file, task, items in the seeded subset)
CASES = [("bbq.yaml", "bbq", 24), ("crows_pairs.yaml", "crows_pairs_english", 24),
         ("truthfulqa.yaml", "truthfulqa_mc1", 6), ("truthfulqa.yaml", "truthfulqa_mc2", 6),
         ("memo_trap.yaml", "inverse_scaling_memo_trap", 16), ("mmlu.yaml", "mmlu_anatomy", 6),
         ("mmlu.yaml", "mmlu_professional_law", 4), ("mmlu.yaml", "mmlu_high_school_us_history", 4),
         ("mmlu.yaml", "mmlu_econometrics", 6)]
FILES = ["bbq/Age.jsonl", "crows_pairs/crows_pairs_anonymized.csv", "truthfulqa/mc_task.json",
         "memo_trap/memo-trap_classification.jsonl", "mmlu/data/test/anatomy_test.csv"]


@pytest.fixture(scope="module")
def both(smollm2_dir, tmp_path_factory):
    """Per task: our prepared subset and outcome, its rows in the hub's schema, and lm-eval's result."""
    shared = require_shared(*FILES)
    from lm_eval.models.huggingface import HFLM

    from pytest_misalign.backends.base import ModelConfig
    from pytest_misalign.backends.hf import HFBackend

    backend = HFBackend(ModelConfig(model=str(smollm2_dir), dtype="float64", device="cpu"))

    work = tmp_path_factory.mktemp("lm_eval_tasks")
    ours, names = {}, {}
    for file, task, n in CASES:
        suite = parse_suite_file(ref.SUITES / file)
        prepared = prepare_task(suite, suite.task(task), cap=n, data_dir=shared)
        rows = [ref.hub_row(task, inst.fields) for inst in prepared.instances]
        ours[task] = (prepared, score_task(prepared, backend), rows)
        names[task] = ref.write_reference_task(work, task, rows)
    backend.close()
    lm = HFLM(pretrained=str(smollm2_dir), dtype="float64", device="cpu", batch_size=8)
    theirs = ref.run_lm_eval(lm, work, list(names.values()))
    return {task: (*ours[task], theirs[names[task]]) for task in ours}


@pytest.mark.parametrize("task", [c[1] for c in CASES])
def test_every_request_has_lm_eval_log_likelihood(both, task):
    prepared, outcome, rows, theirs = both[task]
    assert len(theirs["lls"]) == len(outcome.items) == len(rows)
    for item, lls in zip(outcome.items, theirs["lls"]):
        assert len(item.scores) == len(lls)  # the same choices, in the same order
        assert np.max(np.abs(np.array(item.scores) - np.array(lls))) <= 1e-4


@pytest.mark.parametrize("task", [c[1] for c in CASES])
def test_lm_eval_metrics_of_its_own_log_likelihoods_are_what_it_reports(both, task):
    """The harness computes lm-eval's metrics as lm-eval does (so the next test compares like with like)."""
    _, _, rows, theirs = both[task]
    recomputed = ref.metrics_from_lls(task, rows, theirs["lls"])
    for name, value in recomputed.items():
        reported = theirs["metrics"][name]
        assert (np.isnan(value) and np.isnan(reported)) or value == pytest.approx(reported, abs=1e-12), name


def _ours(task, prepared, outcome) -> dict[str, float]:
    """The plugin's numbers under lm-eval's metric names."""
    checks = {c.base_name: c for c in prepared.spec.checks}
    if task == "bbq":
        cond = np.array([inst.fields["context_condition"] for inst in prepared.instances])
        overall = run_check(checks["bbq_bias"], outcome, "bbq_bias").details
        every = KINDS.check("bbq_bias", {"by": "category", "max": 0.15, "min_n": 1})  # each category, however small
        by_cat = run_check(every, outcome, "bbq_bias[category]").details["groups"]
        out = {"acc": outcome.accuracy, "accuracy_amb": outcome.correct[cond == "ambig"].mean(),
               "accuracy_disamb": outcome.correct[cond == "disambig"].mean(),
               "amb_bias_score": overall["s_amb"], "disamb_bias_score": overall["s_dis"]}
        for cat, d in by_cat.items():
            out[f"amb_bias_score_{cat}"], out[f"disamb_bias_score_{cat}"] = d["s_amb"], d["s_dis"]
        return out
    if task == "crows_pairs_english":
        pref = run_check(checks["preference"], outcome, "preference")
        diff = run_check(checks["likelihood_diff"], outcome, "likelihood_diff")
        return {"pct_stereotype": pref.details["pct_stereotype"], "likelihood_diff": diff.value}
    if task == "truthfulqa_mc2":
        return {"acc": run_check(checks["score"], outcome, "score").value}
    return {"acc": outcome.accuracy}


@pytest.mark.parametrize("task", [c[1] for c in CASES])
def test_every_metric_is_lm_eval_given_the_same_log_likelihoods(both, task):
    prepared, outcome, rows, _ = both[task]
    expected = ref.metrics_from_lls(task, rows, [list(item.scores) for item in outcome.items])
    got = _ours(task, prepared, outcome)
    for name, value in expected.items():
        mine = got[name]
        if mine is None or np.isnan(value):  # a score without items: NaN in lm-eval, None in our JSON
            assert (mine is None or np.isnan(mine)) and np.isnan(value), name
        else:
            assert mine == pytest.approx(value, abs=1e-9), name
