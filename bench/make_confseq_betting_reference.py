"""Record confseq's hedged-capital betting confidence sequences as a test reference.

Like bench/make_confseq_reference.py (which explains why confseq 0.0.11 cannot be a test
dependency and how to set up the NumPy < 2 environment it runs in):

    PYTHONPATH=confseq-0.0.11/src /tmp/csenv/bin/python bench/make_confseq_betting_reference.py

writes tests/data/confseq_hedged_reference.json, which tests/test_stats_betting.py compares
`pytest_misalign.stats.betting.hedged_cs` against. confseq is called with alpha = 1 - confidence
(the same float the tested function derives), parallel=False; to keep the file small the bounds
are recorded at every 10th time (t = 1, 11, 21, ...) and at the last one.
"""

import json
import sys
from pathlib import Path

import numpy as np
import confseq
from confseq.betting import hedged_cs

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "confseq_hedged_reference.json"


def streams() -> dict[str, list[float]]:
    rng = np.random.default_rng(20261203)
    bern = {f"bernoulli_{p}": (rng.random(300) < p).astype(float).tolist()
            for p in (0.05, 0.3, 0.5, 0.7, 0.97)}
    return {
        **bern,
        "halves": (rng.integers(0, 3, 300) / 2).tolist(),  # values in {0, 0.5, 1}
        "beta_2_5": np.round(rng.beta(2, 5, 200), 6).tolist(),
        "uniform": np.round(rng.random(200), 6).tolist(),
        "constant_1": [1.0] * 60,
        "constant_0": [0.0] * 60,
        "short_1": [1.0],
        "short_2": [0.0, 1.0],
        "short_3": [1.0, 0.5, 1.0],
        # longer than one of hedged_cs's time blocks (2**20 // 1001 = 1047 rows)
        "bernoulli_0.6_long": (rng.random(1500) < 0.6).astype(float).tolist(),
    }


# non-default settings, checked on a few streams: skewed hedging, one-sided (theta = 1), no extra
# truncation (trunc_scale = 1: factors can reach 0) and a coarse grid
EXTRA = [("bernoulli_0.3", dict(theta=0.3, trunc_scale=0.5, breaks=200)),
         ("bernoulli_0.97", dict(theta=1.0, trunc_scale=0.5, breaks=1000)),
         ("uniform", dict(theta=0.5, trunc_scale=1.0, breaks=1000)),
         ("halves", dict(theta=0.0, trunc_scale=0.8, breaks=250))]


def record(x, confidence, ri, theta=0.5, trunc_scale=0.5, breaks=1000) -> dict:
    lo, hi = hedged_cs(np.array(x), alpha=1 - confidence, breaks=breaks, running_intersection=ri,
                       parallel=False, theta=theta, trunc_scale=trunc_scale)
    keep = sorted(set(range(0, len(x), 10)) | {len(x) - 1})
    return {"confidence": confidence, "running_intersection": ri, "theta": theta,
            "trunc_scale": trunc_scale, "breaks": breaks, "index": keep,
            "lower": np.asarray(lo)[keep].tolist(), "upper": np.asarray(hi)[keep].tolist()}


def main() -> None:
    data = streams()
    cases = [dict(stream=name, **record(x, conf, ri))
             for name, x in data.items() for conf in (0.95, 0.975) for ri in (False, True)]
    cases += [dict(stream=name, **record(data[name], 0.95, ri, **kw))
              for name, kw in EXTRA for ri in (False, True)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"confseq": getattr(confseq, "__version__", "0.0.11"),
                               "numpy": np.__version__, "function": "confseq.betting.hedged_cs",
                               "streams": data, "cases": cases}) + "\n")
    print(f"wrote {len(cases)} cases to {OUT} ({OUT.stat().st_size} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
