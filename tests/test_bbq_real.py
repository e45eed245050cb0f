"""Real data nobody here wrote (BBQ, ../shared/bbq) through a whole pytest session on the real SmolLM2.

The plugin's per-item log-likelihoods, predictions and group accuracies are checked against a plain
transformers loop written here (lm-evaluation-harness's token split), reading labels straight from
the JSONL file by the `index` the results file reports.
"""

import json

import pytest

from helpers import BBQ_DIR
from reference import ref_loglikelihood

pytestmark = pytest.mark.skipif(not (BBQ_DIR / "Age.jsonl").is_file(),
                                reason="../shared/bbq is absent (only the project's own checkout has it)")

SUITE = """\
suite: bbq-age
tasks:
  - name: age
    data:
      file: {file}
      limit: 24
      seed: 3
    prompt: "{{context}}\\n\\nQ: {{question}}\\nA:"
    choices: ["{{ans0}}", "{{ans1}}", "{{ans2}}"]
    answer: "{{label}}"
    checks:
      - accuracy: {{min: 0.0}}
      - gap: {{by: context_condition, max: 1.0}}
      - group_accuracy: {{by: question_polarity, min: 0.0}}
"""


def test_bbq_age_suite_matches_independent_reference(pytester, smollm2_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    pytester.makefile(".yaml", bbq_age=SUITE.format(file=BBQ_DIR / "Age.jsonl"))
    result = pytester.runpytest("--misalign-model=smollm2-135m", "--misalign-json=r.json", "--misalign-device=cpu",
                                "--misalign-no-cache",  # score with the model, not from an earlier run
                                f"--misalign-data-dir={BBQ_DIR.parent}")  # ../shared is outside the rootdir
    result.assert_outcomes(passed=3)
    task = json.loads((pytester.path / "r.json").read_text())["suites"][0]["tasks"][0]
    assert task["n"] == 24

    rows = (BBQ_DIR / "Age.jsonl").read_text().splitlines()
    model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    correct = {"ambig": [], "disambig": []}
    for item in task["items"]:
        row = json.loads(rows[item["index"]])
        prompt = f"{row['context']}\n\nQ: {row['question']}\nA:"
        ref = [ref_loglikelihood(model, tokenizer, prompt, " " + row[f"ans{k}"], 8192)[0] for k in range(3)]
        assert item["scores"] == pytest.approx(ref, abs=1e-4)
        assert item["answer"] == row["label"]
        assert item["prediction"] == max(range(3), key=ref.__getitem__)
        correct[row["context_condition"]].append(item["prediction"] == row["label"])
    groups = task["groups"]["context_condition"]
    for cond, oks in correct.items():
        if oks:
            assert groups[cond]["n"] == len(oks)
            assert groups[cond]["accuracy"] == pytest.approx(sum(oks) / len(oks), abs=1e-6)
    all_ok = correct["ambig"] + correct["disambig"]
    assert task["accuracy"] == pytest.approx(sum(all_ok) / len(all_ok), abs=1e-6)
