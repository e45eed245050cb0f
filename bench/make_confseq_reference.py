"""Record confseq's predictable-mixture empirical-Bernstein sequences as a test reference.

confseq 0.0.11 (the reference implementation of Waudby-Smith & Ramdas 2023) uses `np.float_`, which
NumPy 2 removed, and its C++ part does not build here, so it cannot be a test dependency. Its
pure-Python modules run under NumPy < 2:

    python3.11 -m venv /tmp/csenv && /tmp/csenv/bin/pip install "numpy<2" scipy matplotlib multiprocess
    pip download --no-deps confseq==0.0.11 && tar xzf confseq-0.0.11.tar.gz
    PYTHONPATH=confseq-0.0.11/src /tmp/csenv/bin/python bench/make_confseq_reference.py

writes tests/data/confseq_predmix_reference.json, which tests/test_stats_sequential.py compares
`pytest_misalign.stats.sequential` against.
"""

import json
import sys
from pathlib import Path

import numpy as np
import confseq
from confseq.predmix import predmix_empbern_twosided_cs

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "confseq_predmix_reference.json"


def streams() -> dict[str, list[float]]:
    rng = np.random.default_rng(20261202)
    return {
        "bernoulli_0.3": (rng.random(400) < 0.3).astype(float).tolist(),
        "bernoulli_0.7": (rng.random(400) < 0.7).astype(float).tolist(),
        "bernoulli_0.97": (rng.random(300) < 0.97).astype(float).tolist(),
        "beta_2_5": rng.beta(2, 5, 250).tolist(),
        "uniform": rng.random(250).tolist(),
        "constant_1": [1.0] * 60,
        "short": [1.0, 0.0, 1.0],
    }


def main() -> None:
    cases = []
    for name, x in streams().items():
        for alpha in (0.05, 0.1):
            for ri in (False, True):
                lo, hi = predmix_empbern_twosided_cs(np.array(x), alpha=alpha, truncation=0.5,
                                                     running_intersection=ri)
                cases.append({"name": name, "alpha": alpha, "running_intersection": ri, "x": x,
                              "lower": np.asarray(lo).tolist(), "upper": np.asarray(hi).tolist()})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"confseq": getattr(confseq, "__version__", "0.0.11"), "numpy": np.__version__,
                               "function": "confseq.predmix.predmix_empbern_twosided_cs",
                               "cases": cases}) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
