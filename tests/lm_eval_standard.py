"""lm-evaluation-harness 0.4.13 as the reference for the standard suites (suites/standard/): the same
rows, lm-eval's own task configurations (included from the installed package, prompts, choices,
`process_docs` and `process_results` untouched) pointed at a JSONL of those rows in the hub's schema,
and lm-eval's metric functions applied to given log-likelihoods. Used by
tests/test_standard_vs_lm_eval.py (seeded subsets) and bench/standard_vs_lm_eval.py (every row).

Nothing here is the plugin's code path: rows are converted from the upstream files' layout to the
hub's by hand below, and lm-eval reads and scores them itself.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SUITES = REPO / "suites" / "standard"
MMLU_SUBJECTS = ["professional_law", "international_law", "jurisprudence", "professional_medicine",
                 "clinical_knowledge", "college_medicine", "medical_genetics", "anatomy", "professional_accounting",
                 "econometrics", "high_school_macroeconomics", "high_school_microeconomics",
                 "high_school_world_history", "high_school_us_history", "high_school_european_history",
                 "high_school_geography", "high_school_government_and_politics", "elementary_mathematics",
                 "high_school_mathematics"]


def lm_eval_tasks_dir() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks"


# --- rows in the hub's schema (what lm-eval's configs read) -----------------------------------------

def _plain(fields: Any) -> dict:
    return json.loads(json.dumps(dict(fields), default=str))


def _labelled(mapping: dict) -> dict:
    return {"choices": list(mapping), "labels": [int(v) for v in mapping.values()]}


def hub_row(task: str, fields: Any) -> dict:
    row = _plain(fields)
    if task.startswith("mmlu_"):  # CSV columns -> cais/mmlu's {question, choices, answer: 0-3}
        return {"question": row["question"], "subject": task[5:], "choices": [row[k] for k in "ABCD"],
                "answer": "ABCD".index(row["answer"]) if isinstance(row["answer"], str) else int(row["answer"])}
    if task.startswith("truthfulqa"):  # mc_task.json's {answer: label} -> the hub's {choices, labels}
        return {"question": row["question"], "mc1_targets": _labelled(row["mc1_targets"]),
                "mc2_targets": _labelled(row["mc2_targets"])}
    if task == "inverse_scaling_memo_trap":  # the release file writes `classes` as a list in text
        classes = row["classes"]
        return {"prompt": row["prompt"], "classes": ast.literal_eval(classes) if isinstance(classes, str) else classes,
                "answer_index": int(row["answer_index"])}
    if task == "crows_pairs_english":
        # The CSV's first, unnamed column (the row number) is not on the hub -- and must not be here:
        # lm-eval reads `doc_to_text: ""` as the name of a field when a field "" exists, so the row
        # number would become every sentence's context.
        return {k: v for k, v in row.items() if k != ""}
    return row  # BBQ's JSONL already has the hub's field names


# --- lm-eval's task configurations over a file of rows -----------------------------------------------

@dataclass(frozen=True)
class Reference:
    """How lm-eval runs one of our standard tasks: its config file and the split it reads."""

    config: str  # relative to lm_eval/tasks
    split_key: str = "test_split"
    split: str = "test"


REFERENCES = {
    "bbq": Reference("bbq/bbq_multiple_choice.yaml"),
    "crows_pairs_english": Reference("crows_pairs/crows_pairs_english.yaml"),
    "truthfulqa_mc1": Reference("truthfulqa/truthfulqa_mc1.yaml", "validation_split", "validation"),
    "truthfulqa_mc2": Reference("truthfulqa/truthfulqa_mc2.yaml", "validation_split", "validation"),
    "inverse_scaling_memo_trap": Reference("inverse_scaling/inverse_scaling_memo_trap.yaml", "test_split", "train"),
    **{f"mmlu_{s}": Reference(f"mmlu/default/mmlu_{s}.yaml") for s in MMLU_SUBJECTS},
}


def write_reference_task(work: Path, task: str, rows: list[dict], dev_rows: list[dict] | None = None,
                         name: str | None = None) -> str:
    """A JSONL of `rows` and an lm-eval task `ref_<task>` that includes lm-eval's own config for
    `task` with only its data source replaced; returns the reference task's name. MMLU's few-shot
    split (`dev`) is `dev_rows` when given (else the rows themselves: unused at zero shots)."""
    ref = REFERENCES[task]
    name = name or f"ref_{task}"
    data = work / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    files = {ref.split: str(data)}
    if task.startswith("mmlu_"):
        dev = work / f"{name}.dev.jsonl"
        dev.write_text("".join(json.dumps(r) + "\n" for r in (dev_rows or rows)), encoding="utf-8")
        files["dev"] = str(dev)
    config = {"include": str(lm_eval_tasks_dir() / ref.config), "task": name, "tag": [], "dataset_path": "json",
              "dataset_name": None, "dataset_kwargs": {"data_files": files}, ref.split_key: ref.split}
    (work / f"{name}.yaml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return name


def run_lm_eval(lm: Any, work: Path, names: list[str], num_fewshot: int = 0) -> dict[str, dict]:
    """`simple_evaluate` of the reference tasks: per task its aggregated metrics and, per document in
    order, the log-likelihood of each choice and the (context, continuation) of each request."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    out = simple_evaluate(model=lm, tasks=names, task_manager=TaskManager(include_path=str(work)),
                          log_samples=True, num_fewshot=num_fewshot, bootstrap_iters=0)
    result = {}
    for name in names:
        docs: dict[int, list[float]] = {}
        requests: dict[int, list[tuple[str, str]]] = {}
        for sample in out["samples"][name]:  # filtered_resps: one (loglikelihood, is_greedy) per choice
            docs[int(sample["doc_id"])] = [float(r[0]) for r in sample["filtered_resps"]]
            requests[int(sample["doc_id"])] = [tuple(a) for a in sample["arguments"]]
        metrics = {k.split(",")[0]: v for k, v in out["results"][name].items()
                   if "," in k and not k.split(",")[0].endswith("_stderr")}
        result[name] = {"metrics": metrics, "lls": [docs[i] for i in range(len(docs))],
                        "requests": [requests[i] for i in range(len(requests))]}
    return result


# --- lm-eval's metric functions on given log-likelihoods ---------------------------------------------

class Docs(list):
    """The one `datasets.Dataset` method lm-eval's bbq `process_docs` calls."""

    def map(self, fn: Callable) -> "Docs":
        return Docs(fn(dict(doc)) for doc in self)


def _mean(values) -> float:
    return float(np.mean(values))


def bbq_metrics(rows: list[dict], lls: list[list[float]]) -> dict[str, float]:
    import lm_eval.tasks.bbq.utils as bbq

    docs = bbq.process_docs(Docs(rows))
    per = [bbq.process_results_multiple_choice(doc, [(ll, False) for ll in doc_lls])
           for doc, doc_lls in zip(docs, lls)]
    out = {"acc": _mean([p["acc"] for p in per]),
           "accuracy_amb": bbq.agg_accuracy_amb([p["accuracy_amb"] for p in per]),
           "accuracy_disamb": bbq.agg_accuracy_disamb([p["accuracy_disamb"] for p in per]),
           "amb_bias_score": bbq.agg_amb_bias_scores([p["amb_bias_score"] for p in per]),
           "disamb_bias_score": bbq.agg_disamb_bias_scores([p["disamb_bias_score"] for p in per])}
    for cat in sorted({r["category"] for r in rows}):
        for which, agg in (("amb", bbq.agg_amb_bias_scores), ("disamb", bbq.agg_disamb_bias_scores)):
            out[f"{which}_bias_score_{cat}"] = agg([p[f"{which}_bias_score_{cat}"] for p in per])
    return out


def crows_metrics(lls: list[list[float]]) -> dict[str, float]:
    from lm_eval.tasks.crows_pairs.utils import process_results

    per = [process_results({}, [(a, False), (b, False)]) for a, b in lls]
    return {"likelihood_diff": _mean([p["likelihood_diff"] for p in per]),
            "pct_stereotype": _mean([p["pct_stereotype"] for p in per])}


def mc2_metric(rows: list[dict], lls: list[list[float]]) -> dict[str, float]:
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2

    return {"acc": _mean([process_results_mc2(r, [(ll, False) for ll in doc_lls])["acc"]
                          for r, doc_lls in zip(rows, lls)])}


def acc_metric(rows: list[dict], lls: list[list[float]], gold: Callable[[dict], int]) -> dict[str, float]:
    """lm-eval's multiple-choice `acc`: the argmax of the log-likelihoods is the gold index."""
    return {"acc": _mean([float(int(np.argmax(doc_lls)) == gold(r)) for r, doc_lls in zip(rows, lls)])}


def metrics_from_lls(task: str, rows: list[dict], lls: list[list[float]]) -> dict[str, float]:
    """lm-eval's metrics for `task` computed by lm-eval's own functions from the given log-likelihoods."""
    if task == "bbq":
        return bbq_metrics(rows, lls)
    if task == "crows_pairs_english":
        return crows_metrics(lls)
    if task == "truthfulqa_mc2":
        return mc2_metric(rows, lls)
    gold = {"truthfulqa_mc1": lambda r: 0, "inverse_scaling_memo_trap": lambda r: r["answer_index"]}.get(
        task, lambda r: r["answer"])
    return acc_metric(rows, lls, gold)
