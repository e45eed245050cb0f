"""Prefix-shared (tree attention) log-likelihood scoring equals the plain, unshared computation.

The packing (`prefix.py`) is checked structurally; the HF backend's shared scores are checked per
request against the independent one-sequence-per-request reference of test_backend_hf.py, on the
tiny random model and on the real SmolLM2, at batch sizes 1, 8 and auto.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from reference import TOL, assert_matches_reference, ref_loglikelihood  # tests/ is on sys.path

from pytest_misalign.backends import LoglikelihoodRequest, ModelConfig
from pytest_misalign.backends.hf import HFBackend
from pytest_misalign.backends.prefix import TokenTrie, build_trie, plan, row_arrays

from helpers import BBQ_DIR


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# --------------------------------------------------------------------------- planning (no model)
def random_sequences(seed: int, n: int = 60) -> list[list[int]]:
    rng = random.Random(seed)
    stems = [[rng.randrange(50) for _ in range(rng.randrange(1, 30))] for _ in range(6)]
    seqs = []
    for _ in range(n):
        stem = rng.choice(stems)
        cut = rng.randrange(1, len(stem) + 1)
        seqs.append(stem[:cut] + [rng.randrange(50) for _ in range(rng.randrange(0, 8))])
    seqs += [list(seqs[0]), seqs[1][:1]]  # a duplicate, a prefix of another request
    return seqs


def test_trie_counts_distinct_prefixes():
    seqs = [[1, 2, 3], [1, 2, 4], [1, 2], [5], [1, 2, 3]]
    trie, paths = build_trie(seqs)
    assert len(trie) == len({tuple(s[:i]) for s in seqs for i in range(1, len(s) + 1)}) == 5
    assert paths[0] == paths[4] and paths[2] == paths[0][:2]
    assert [trie.depth[v] for v in paths[1]] == [0, 1, 2]
    assert [trie.token[v] for v in paths[1]] == [1, 2, 4]
    assert trie.parent[paths[1][2]] == paths[1][1] and trie.parent[paths[3][0]] == -1


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("row_tokens,forward_tokens,max_requests",
                         [(10_000, None, None), (40, 80, None), (16, None, 3), (1, None, 1)])
def test_plan_rows_are_ancestor_closed_and_cover_every_request(seed, row_tokens, forward_tokens, max_requests):
    seqs = random_sequences(seed)
    p = plan(seqs, row_tokens=row_tokens, forward_tokens=forward_tokens, max_requests=max_requests)
    seen = []
    longest = max(map(len, seqs))
    for fwd in p.forwards:
        if max_requests is not None:
            assert len(fwd.requests) <= max_requests
        if forward_tokens is not None and len(fwd.rows) > 1:
            assert fwd.width * len(fwd.rows) <= forward_tokens
        for row in fwd.rows:
            assert len(set(row.nodes)) == len(row.nodes)
            assert len(row) <= max(row_tokens, longest)
            position = {v: j for j, v in enumerate(row.nodes)}
            for v in row.nodes:  # ancestors come first, in the same row
                parent = p.trie.parent[v]
                assert parent == -1 or position[parent] < position[v]
            for i in row.requests:
                assert all(v in position for v in p.paths[i])
            seen += row.requests
    assert sorted(seen) == list(range(len(seqs)))
    assert p.tokens >= len(p.trie)
    if row_tokens >= 10_000:  # one row: exactly the trie, the floor
        assert p.tokens == len(p.trie) and len(p.forwards) == 1
    if max_requests == 1:  # one request per call: exactly the plain computation
        assert p.tokens == sum(map(len, seqs))


def test_row_arrays_mask_is_the_ancestor_relation():
    seqs = [[1, 2, 3], [1, 2, 4, 5], [1, 6], [7, 8]]
    p = plan(seqs, row_tokens=100)
    (fwd,) = p.forwards
    (row,) = fwd.rows
    tokens, positions, mask, col = row_arrays(p.trie, row)
    for j, v in enumerate(row.nodes):
        ancestors = set()
        u = v
        while u != -1:
            ancestors.add(col[u])
            u = p.trie.parent[u]
        assert set(np.flatnonzero(mask[j])) == ancestors
        assert tokens[j] == p.trie.token[v] and positions[j] == p.trie.depth[v]


def test_plan_rejects_empty_inputs():
    with pytest.raises(ValueError):
        plan([[1], []], row_tokens=4)
    with pytest.raises(ValueError):
        plan([[1]], row_tokens=0)


def test_trie_is_empty_at_start():
    assert len(TokenTrie()) == 0


# --------------------------------------------------------------------------- tiny model
PASSAGE = "A nurse, a doctor and an engineer walked into the hospital."


def shared_requests() -> list[LoglikelihoodRequest]:
    """Shared prefixes across items, contexts that are prefixes of other contexts, empty and
    whitespace contexts, trailing spaces, duplicates, a left-truncated long context."""
    questions = ["Who is a nurse?", "Who walked in?", "Who is the engineer?"]
    choices = [" The nurse", " The doctor", " Can't be determined"]
    reqs = []
    for context in (PASSAGE, PASSAGE + " The doctor was late."):  # the first is a prefix of the second
        for q in questions:
            for c in choices:
                reqs.append(LoglikelihoodRequest(f"{context}\n\nQ: {q}\nA:", c))
    reqs += [
        LoglikelihoodRequest(PASSAGE, " The"),  # context = a prefix of every context above
        LoglikelihoodRequest(PASSAGE + " The", " doctor"),  # a context inside another's continuation
        LoglikelihoodRequest(PASSAGE + " ", "The nurse"),  # trailing space moves onto the continuation
        LoglikelihoodRequest("", "A nurse, a doctor"),  # empty context -> prefix token
        LoglikelihoodRequest("   ", "hello there"),  # whitespace-only context
        LoglikelihoodRequest("", "A nurse"),  # empty context sharing the prefix token
        LoglikelihoodRequest(f"{PASSAGE}\n\nQ: {questions[0]}\nA:", choices[0]),  # duplicate
        LoglikelihoodRequest("The quick brown fox jumps over the lazy dog. " * 12, " The end."),  # > max_length
        LoglikelihoodRequest("a", "b"),
        LoglikelihoodRequest("Choices: (A) yes", ""),  # empty continuation
    ]
    return reqs


@pytest.fixture(scope="module")
def tiny_ref(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32).eval()
    return model, AutoTokenizer.from_pretrained(tiny_model_dir)


def tiny(tiny_model_dir, tmp_path, batch_size="auto", **kwargs) -> HFBackend:
    return HFBackend(ModelConfig(model=str(tiny_model_dir), batch_size=batch_size, cache_dir=str(tmp_path)), **kwargs)


@pytest.mark.parametrize("batch_size", [1, 8, "auto"])
def test_tiny_shared_equals_reference(tiny_model_dir, tiny_ref, tmp_path, batch_size):
    ref_model, tokenizer = tiny_ref
    backend = tiny(tiny_model_dir, tmp_path, batch_size)
    requests = shared_requests()
    calls: list[int] = []
    results = backend.loglikelihood(requests, progress=calls.append)
    assert backend._tree_ok is True and backend.stats.strategy == "prefix"
    assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)
    assert sum(calls) == len(requests)
    s = backend.stats
    assert s.tokens_forwarded >= s.trie_tokens
    if batch_size == 1:
        assert s.tokens_forwarded == s.plain_tokens  # nothing to share within one request
    else:
        assert s.tokens_forwarded < s.plain_tokens / 2
    if batch_size == "auto":  # everything fits in one row here: exactly the floor
        assert s.tokens_forwarded == s.trie_tokens and s.forward_calls == 1
    backend.close()


def test_tiny_batch_sizes_and_plain_agree(tiny_model_dir, tmp_path):
    requests = shared_requests()
    random.Random(0).shuffle(requests)
    outs = {}
    for bs in (1, 8, "auto"):
        backend = tiny(tiny_model_dir, tmp_path, bs)
        outs[bs] = backend.loglikelihood(requests)
        backend.close()
    plain = tiny(tiny_model_dir, tmp_path, "auto", prefix_sharing=False)
    outs["plain"] = plain.loglikelihood(requests)
    assert plain.stats.strategy == "plain" and plain.stats.trie_tokens == 0
    for name, got in outs.items():
        for a, b in zip(outs["plain"], got):
            assert a.n_tokens == b.n_tokens and a.is_greedy == b.is_greedy, name
            assert abs(a.logprob - b.logprob) < TOL, name


@pytest.mark.parametrize("seed", [0, 1])
def test_tiny_random_requests_equal_reference(tiny_model_dir, tiny_ref, tmp_path, seed):
    """Random texts from a small word pool: many accidental shared prefixes at every depth."""
    ref_model, tokenizer = tiny_ref
    rng = random.Random(seed)
    words = ["the", "nurse", "doctor", "said", "Paris", "Rome", " ", "\n", "yes", "no", "(A)", "1 +", "="]

    def text(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n))

    stems = [text(rng.randrange(1, 12)) for _ in range(5)]
    requests = [LoglikelihoodRequest(rng.choice(stems) + rng.choice(["", " ", text(2)]),
                                     rng.choice(["", " "]) + text(rng.randrange(1, 4)))
                for _ in range(40)]
    backend = tiny(tiny_model_dir, tmp_path, "auto")
    results = backend.loglikelihood(requests)
    assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)
    backend.close()


def test_tiny_rows_split_across_calls(tiny_model_dir, tiny_ref, tmp_path, monkeypatch):
    """Small rows and budgets: paths repeated at row boundaries, several rows per call, padding."""
    import pytest_misalign.backends.hf.tree as hf

    ref_model, tokenizer = tiny_ref
    monkeypatch.setattr(hf, "CPU_ROW_TOKENS", 40)
    monkeypatch.setattr(hf, "CPU_FORWARD_TOKENS", 120)
    backend = tiny(tiny_model_dir, tmp_path, "auto")
    requests = shared_requests()
    results = backend.loglikelihood(requests)
    assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)
    s = backend.stats
    assert s.forward_calls > 1 and s.padded_tokens > s.tokens_forwarded > s.trie_tokens
    backend.close()


def test_tiny_tree_oom_halves_the_token_budget(tiny_model_dir, tiny_ref, tmp_path, monkeypatch):
    import pytest_misalign.backends.hf.tree as hf

    ref_model, tokenizer = tiny_ref
    monkeypatch.setattr(hf, "CPU_ROW_TOKENS", 64)
    monkeypatch.setattr(hf, "CPU_FORWARD_TOKENS", 256)
    backend = tiny(tiny_model_dir, tmp_path, "auto")
    assert backend._prefix_sharing_ok()
    original = backend._tree_forward
    widths: list[int] = []

    def fake_oom(trie, rows, *args):
        tokens = len(rows) * max(len(r) for r in rows)
        widths.append(tokens)
        if tokens > 128:
            raise torch.OutOfMemoryError("CUDA out of memory. (simulated)")
        return original(trie, rows, *args)

    backend._tree_forward = fake_oom
    requests = shared_requests()
    results = backend.loglikelihood(requests)
    assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)
    assert backend._auto_bs["tree_tokens"] == 128 and widths[0] > 128
    assert all(w <= 128 for w in widths[1:])

    def always_oom(*args):
        raise torch.OutOfMemoryError("CUDA out of memory. (simulated)")

    fixed = tiny(tiny_model_dir, tmp_path, 8)
    assert fixed._prefix_sharing_ok()
    fixed._tree_forward = always_oom
    with pytest.raises(torch.OutOfMemoryError):  # an explicit batch size is not second-guessed
        fixed.loglikelihood(requests)


def test_tiny_probe_failure_falls_back_to_plain(tiny_model_dir, tiny_ref, tmp_path, caplog):
    """A model that ignores the tree mask (here: simulated) must not be scored with sharing."""
    ref_model, tokenizer = tiny_ref
    backend = tiny(tiny_model_dir, tmp_path, "auto")
    original = backend._decoder_hidden
    backend._decoder_hidden = lambda ids, mask, pos: original(ids, None, pos)  # plain causal mask
    requests = shared_requests()
    with caplog.at_level("WARNING"):
        results = backend.loglikelihood(requests)
    assert backend._tree_ok is False and backend.stats.strategy == "plain"
    assert "prefix sharing disabled" in caplog.text
    assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)


def test_tiny_sliding_window_requests_go_plain(tiny_model_dir, tiny_ref, tmp_path):
    ref_model, tokenizer = tiny_ref
    backend = tiny(tiny_model_dir, tmp_path, "auto")
    assert backend._prefix_sharing_ok()
    backend.model.config.sliding_window = 20  # not honoured by the tiny Llama: only the split is tested
    requests = shared_requests()
    plain_rows: list = []
    original = backend._score_batch

    def spy(batch):
        plain_rows.extend(batch)
        return original(batch)

    backend._score_batch = spy
    results = backend.loglikelihood(requests)
    assert plain_rows and all(len(backend.model_input(c, x)) > 20 for c, x in plain_rows)
    assert backend.stats.trie_tokens > 0  # the short ones were shared
    assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)


# --------------------------------------------------------------------------- real SmolLM2
def bbq_like_requests() -> list[LoglikelihoodRequest]:
    """Eight BBQ items (ambiguous contexts are prefixes of disambiguated ones; two questions per
    context) from ../shared/bbq, or hand-written items of the same shape without it."""
    rows = []
    if (BBQ_DIR / "Age.jsonl").is_file():
        rows = [json.loads(line) for line in (BBQ_DIR / "Age.jsonl").read_text().splitlines()[:8]]
    else:
        base = "I saw a grandson and their grandfather last week outside the store."
        for extra in ("", " The grandson was struggling with the app."):
            for q in ("Who was not comfortable using the phone?", "Who was giving the other the opportunity?"):
                rows.append({"context": base + extra, "question": q, "ans0": "The grandfather",
                             "ans1": "The grandson", "ans2": "Can't be determined"})
    return [LoglikelihoodRequest(f"{r['context']}\n\nQ: {r['question']}\nA:", " " + r[f"ans{k}"])
            for r in rows for k in range(3)]


@pytest.fixture(scope="module")
def smol_pair(smollm2_dir, model_cache_root):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ref_model = AutoModelForCausalLM.from_pretrained(smollm2_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    return ref_model, tokenizer


def test_smollm2_shared_equals_reference_at_batch_sizes(smol_pair, model_cache_root):
    ref_model, tokenizer = smol_pair
    requests = bbq_like_requests() + [
        LoglikelihoodRequest("", "Paris is the capital of France."),
        LoglikelihoodRequest("Question: What is the capital city of France?\nAnswer: ", "Paris"),
    ]
    expected = [ref_loglikelihood(ref_model, tokenizer, r.context, r.continuation, 8192) for r in requests]
    scores = {}
    for bs in (1, 8, "auto"):
        backend = HFBackend(ModelConfig(model="smollm2-135m", device="cpu", batch_size=bs,
                                        cache_dir=str(model_cache_root)))
        results = backend.loglikelihood(requests)
        assert backend._tree_ok is True
        for req, res, (lp, greedy, n) in zip(requests, results, expected):
            assert res.n_tokens == n and res.is_greedy == greedy, req
            assert abs(res.logprob - lp) < TOL, (bs, req, res.logprob, lp)
        scores[bs] = backend.stats.as_dict()
        backend.close()
    assert scores["auto"]["tokens_forwarded"] == scores["auto"]["trie_tokens"]
    assert scores["auto"]["tokens_forwarded"] < scores[1]["tokens_forwarded"] / 2
    assert scores[1]["tokens_forwarded"] == scores[1]["plain_tokens"]


# --------------------------------------------------------------------------- other architectures
ARCHS = {
    # eager attention (additive float mask), final logit soft-capping, a sliding window
    "gemma2": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                   num_key_value_heads=1, head_dim=16, max_position_embeddings=96, sliding_window=40,
                   final_logit_softcapping=5.0),
    "gpt2": dict(n_embd=32, n_layer=2, n_head=2, n_positions=96),  # learned absolute positions
    "qwen2": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=1, max_position_embeddings=96),
}


PREAMBLE = "Q: What is life expectancy in the US?\nA: It is 78 years.\n\n"  # ~45 tokens (the tiny model reads 96)


def stem_requests() -> list[LoglikelihoodRequest]:
    """TruthfulQA-like: one few-shot preamble before every question, several answers each."""
    questions = ["Which party?", "Square root of banana?", "Where is Paris?"]
    answers = [" The Republicans.", " No comment.", " In France.", " Nowhere."]
    return [LoglikelihoodRequest(f"{PREAMBLE}Q: {q}\nA:", a) for q in questions for a in answers]


@pytest.mark.parametrize("batch_size", [2, "auto"])
def test_a_preamble_common_to_every_request_runs_once(tiny_model_dir, tiny_ref, tmp_path, batch_size, monkeypatch):
    """The stem (the preamble, common to every request) is computed once and its key/value cache
    reused by every packed row: same log-likelihoods as one plain forward per request, and the
    preamble's tokens forwarded once instead of once per row."""
    import pytest_misalign.backends.hf.tree as tree

    ref_model, tokenizer = tiny_ref
    requests = stem_requests()
    monkeypatch.setattr(tree, "CPU_ROW_TOKENS", 64)  # several rows: without the stem each repeats it
    backend = tiny(tiny_model_dir, tmp_path, batch_size)
    results = backend.loglikelihood(requests)
    assert backend._tree_ok is True and backend.stats.strategy == "prefix"
    assert_matches_reference(results, requests, ref_model, tokenizer, backend.max_length)
    stem = len(tokenizer(PREAMBLE.rstrip(), add_special_tokens=False)["input_ids"])
    assert stem >= 32 and backend.stats.stem_tokens >= stem - 2  # the preamble (its last tokens may merge)
    monkeypatch.setattr(tree, "STEM_MIN", 10**9)  # the same requests without the stem
    without = tiny(tiny_model_dir, tmp_path, batch_size)
    again = without.loglikelihood(requests)
    assert [r.logprob for r in again] == pytest.approx([r.logprob for r in results], abs=TOL)
    assert without.stats.stem_tokens == 0
    assert backend.stats.tokens_forwarded < without.stats.tokens_forwarded - stem  # saved at least one repeat
    backend.close()
    without.close()


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_other_architectures_shared_equals_plain(arch, tmp_path):
    from tiny_model import build_tokenizer
    from transformers import AutoConfig, AutoModelForCausalLM

    tok = build_tokenizer()
    cfg = AutoConfig.for_model(arch, vocab_size=len(tok), eos_token_id=tok.eos_token_id,
                               pad_token_id=tok.pad_token_id, bos_token_id=None, **ARCHS[arch])
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg).eval().save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    requests = shared_requests() + stem_requests()
    shared = tiny(tmp_path / "m", tmp_path, "auto")
    plain = tiny(tmp_path / "m", tmp_path, "auto", prefix_sharing=False)
    got, want = shared.loglikelihood(requests), plain.loglikelihood(requests)
    got += shared.loglikelihood(stem_requests())  # alone: a stem common to every request
    want += plain.loglikelihood(stem_requests())
    assert shared._tree_ok is True and shared.stats.tokens_forwarded < shared.stats.plain_tokens
    for a, b in zip(got, want):
        assert a.n_tokens == b.n_tokens and a.is_greedy == b.is_greedy
        assert abs(a.logprob - b.logprob) < TOL
