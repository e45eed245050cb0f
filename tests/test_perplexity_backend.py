"""Rolling log-likelihood (`TokenizedBackend.loglikelihood_rolling`) against independent references:
lm-eval's own window functions, a hand computation with transformers, and lm-eval's HFLM itself."""

from __future__ import annotations

import math

import pytest
from reference import ref_rolling

from pytest_misalign.backends.base import BackendBase, ModelInfo
from pytest_misalign.backends.errors import ModelLoadError
from pytest_misalign.backends.tokenized import rolling_windows
from pytest_misalign.backends.cache import CachedBackend

LONG = ("The court held that the contract was void because one party lacked capacity at the time of "
        "signing. On appeal, the judgment was affirmed, and the costs were awarded to the respondent, "
        "who had argued throughout that the agreement could not be enforced against a minor.")
TEXTS = [
    "Aspirin inhibits platelet aggregation.",
    "Interest rates rose by a quarter point in March, and bond yields followed.",
    LONG,
    "Paris",
    "",
    "  leading and trailing spaces  ",
]


@pytest.mark.parametrize("n, max_length", [(1, 4), (4, 4), (5, 4), (9, 4), (10, 3), (37, 8), (8, 1)])
def test_windows_match_lm_eval(n, max_length):
    from lm_eval.utils import get_rolling_token_windows, make_disjoint_window

    tokens = list(range(100, 100 + n))
    expected = [make_disjoint_window(w) for w in
                get_rolling_token_windows(token_list=tokens, prefix_token=7, max_seq_len=max_length, context_len=1)]
    assert rolling_windows(tokens, 7, max_length) == [(list(a), list(b)) for a, b in expected]
    assert [t for _, cont in rolling_windows(tokens, 7, max_length) for t in cont] == tokens


def test_no_windows_for_empty_text():
    assert rolling_windows([], 7, 4) == []


@pytest.mark.parametrize("max_length", [None, 16])
def test_rolling_matches_hand_computation(hf_smol, smol_reference, max_length):
    model, tokenizer = smol_reference
    saved = hf_smol.max_length
    try:
        hf_smol.max_length = max_length or saved
        got = hf_smol.loglikelihood_rolling(TEXTS)
        for text, value in zip(TEXTS, got):
            assert value == pytest.approx(ref_rolling(model, tokenizer, text, hf_smol.max_length), abs=1e-4)
    finally:
        hf_smol.max_length = saved
    assert got[TEXTS.index("")] == 0.0


def test_rolling_progress_counts_texts(hf_smol):
    seen = []
    hf_smol.loglikelihood_rolling(TEXTS[:3] + [TEXTS[0], ""], progress=seen.append)
    assert sum(seen) == 5


def test_rolling_matches_lm_eval_hflm_SLOW(smollm2_dir):
    """lm-eval's HFLM.loglikelihood_rolling, float32, max_length=16 on both sides (windows matter
    for LONG). Slow-ish: loads the model a second time through lm-eval (~10 s)."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from pytest_misalign.backends.base import ModelConfig
    from pytest_misalign.backends.hf import HFBackend

    lm = HFLM(pretrained=str(smollm2_dir), dtype="float32", device="cpu", max_length=16, batch_size=4)
    texts = [t for t in TEXTS if t]
    requests = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(texts)]
    expected = lm.loglikelihood_rolling(requests, disable_tqdm=True)
    ours = HFBackend(ModelConfig(model=str(smollm2_dir), dtype="float32", device="cpu",
                                 model_args={"max_length": 16}))
    try:
        assert max(len(rolling_windows(ids, 0, 16)) for ids in ours.tok_encode(texts)) == 4  # LONG
        shared = ours.loglikelihood_rolling(texts)  # default: prefix sharing (tree attention)
        ours.prefix_sharing = False
        plain = ours.loglikelihood_rolling(texts)  # lm-eval's batched forward
    finally:
        ours.close()
    assert plain == pytest.approx(expected, abs=1e-4)
    # lm-eval sums a window's log-probs in float32 (ulp(220) = 1.5e-5 per addition): on LONG (51
    # tokens, LL -220.318) it is 3.7e-4 from the float64 sum that the prefix-sharing path and the
    # hand computation (test above) agree on to 1e-5; the plain path reproduces lm-eval exactly.
    assert shared == pytest.approx(expected, abs=1e-4, rel=5e-6)


# ---------------------------------------------------------------------- other backends, the cache
class _Counting(BackendBase):
    def __init__(self, fingerprint="fp"):
        self.info = ModelInfo(name="m", device="cpu", dtype="float32", backend="test", fingerprint=fingerprint)
        self.rolling_calls: list[list[str]] = []

    def loglikelihood(self, requests, progress=None):
        return []

    def generate(self, requests, progress=None):
        return []

    def loglikelihood_rolling(self, texts, progress=None):
        self.rolling_calls.append(list(texts))
        if progress:
            progress(len(texts))
        return [-float(len(t)) for t in texts]


def test_backend_without_rolling_gives_clear_error():
    class NoRolling(BackendBase):
        info = ModelInfo(name="m", device="cpu", dtype="float32", backend="custom")

    with pytest.raises(ModelLoadError, match="type: perplexity"):
        NoRolling().loglikelihood_rolling(["x"])


def test_cache_serves_rolling_requests(tmp_path):
    inner = _Counting()
    cached = CachedBackend(inner, tmp_path / "r.sqlite")
    assert cached.loglikelihood_rolling(["ab", "abc", "ab"]) == [-2.0, -3.0, -2.0]
    assert inner.rolling_calls == [["ab", "abc"]]
    assert cached.loglikelihood_rolling(["abc", "abcd"]) == [-3.0, -4.0]
    assert inner.rolling_calls[-1] == ["abcd"]
    # a rolling key never collides with a log-likelihood request of the same text
    assert cached.key("loglikelihood_rolling", {"text": "ab"}) != cached.key(
        "loglikelihood", {"context": "", "continuation": "ab"})
    again = CachedBackend(_Counting(), tmp_path / "r.sqlite")
    assert again.loglikelihood_rolling(["ab", "abcd"]) == [-2.0, -4.0]
    assert again.backend.rolling_calls == []
    assert math.isclose(again.hits, 2)
