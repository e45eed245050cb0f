"""Prefix-sharing scoring: every distinct input prefix of a call's token pairs runs once (a token
trie packed into rows with tree attention, see `../prefix.py`), with results identical to the plain
path. Checked once per model against the plain path on a small probe; a model whose attention
ignores custom masks or position ids falls back to plain scoring.

A stem -- a prefix common to every pair of the call (a few-shot preamble, TruthfulQA's six questions)
ending before any pair's first scored token -- runs once: its key/value cache is computed first and
every packed row attends to it (positions continue after it), instead of each row repeating it.
Without it a row holds the stem plus the items that fit beside it, and every row recomputes it."""

from __future__ import annotations

import gc
import logging

from ..tokenized import OnDone, TokenPair
from .loading import is_oom
from .plain import PlainScoring

log = logging.getLogger(__name__)

# Batch size "auto": tree nodes per packed row, and tokens (rows x width) per model call. CPU:
# measured on a 2-core machine with SmolLM2-135M (throughput is flat from ~256 tokens per call on;
# longer rows waste time on masked attention). CUDA: start large, halve on OOM.
CPU_ROW_TOKENS = 512
CPU_FORWARD_TOKENS = 1024
CUDA_ROW_TOKENS = 2048
CUDA_FORWARD_TOKENS = 32768
STEM_MIN = 32  # a common prefix shorter than this is left to the rows (not worth a separate call)
LOGIT_CHUNK = 256  # positions whose vocabulary-wide logits exist at once (memory bound)
# Largest |tree - plain| log-probability on the start-up probe before prefix sharing is turned off.
PROBE_TOLERANCE = {"float64": 1e-6, "float32": 1e-3, "bfloat16": 0.15, "float16": 0.15}


def _probe_pairs(vocab: int, max_length: int) -> list[TokenPair]:
    """Three short token sequences, two sharing a prefix; every next-token prediction of each."""
    toks = [(37 * k + 11) % vocab for k in range(12)]
    a = toks[:7]
    b = toks[:3] + toks[7:10]
    c = toks[10:12] + toks[:2]
    pairs = [(seq[:k], [seq[k]]) for seq in (a, b, c) for k in range(1, len(seq))]
    return [(x, y) for x, y in pairs if len(x) + 1 <= max_length]


class TreeScoring(PlainScoring):
    """Mixin for `HFBackend` (plain scoring is its fallback and its probe reference): needs `model`, `device`, `dtype_name`,
    `_torch_dtype`, `attn_implementation`, `pad_token_id`, `max_length`, `stats`, `config`,
    `_batch_size_setting`, `_auto_bs`, `_tree_ok`."""

    def _sliding_window(self) -> int | None:
        """The model's sliding attention window, when it has one in use (Mistral, Gemma 2/3...)."""
        cfg = self.model.config
        window = getattr(cfg, "sliding_window", None)
        if getattr(cfg, "use_sliding_window", True) is False:
            return None
        return window if isinstance(window, int) and window > 0 else None

    def _tree_budget(self) -> tuple[int, int | None, int | None]:
        """(row_tokens, forward_tokens, max_requests) for packing."""
        cuda = self.device.startswith("cuda")
        row = CUDA_ROW_TOKENS if cuda else CPU_ROW_TOKENS
        if isinstance(self._batch_size_setting, int):
            return row, None, self._batch_size_setting
        budget = self._auto_bs.get("tree_tokens", CUDA_FORWARD_TOKENS if cuda else CPU_FORWARD_TOKENS)
        return min(row, budget), budget, None

    def _loglikelihood_tree(
        self,
        pairs: list[TokenPair],
        on_batch: OnDone | None = None,
    ) -> list[tuple[float, bool]]:
        """Every distinct input prefix of `pairs` once (see `prefix.py`), packed into model calls;
        on OOM with batch size "auto", the token budget halves and the rest is re-planned."""
        import torch

        from ..prefix import build_trie, plan

        inputs = [self.model_input(ctx, cont) for ctx, cont in pairs]
        conts = [cont for _, cont in pairs]
        stem = self._stem(inputs, conts)
        inputs = [x[stem[0]:] for x in inputs] if stem else inputs
        trie, paths = build_trie(inputs)
        self.stats.trie_tokens += len(trie) + (stem[0] if stem else 0)
        out: list[tuple[float, bool] | None] = [None] * len(pairs)
        remaining = list(range(len(pairs)))
        auto = self._batch_size_setting == "auto"
        longest = max(len(x) for x in inputs)
        while remaining:
            row_tokens, forward_tokens, max_requests = self._tree_budget()
            p = plan([inputs[i] for i in remaining], row_tokens=row_tokens,
                     forward_tokens=forward_tokens, max_requests=max_requests,
                     trie=trie, paths=[paths[i] for i in remaining])
            oom = False
            for fwd in p.forwards:
                done = [remaining[i] for i in fwd.requests]
                try:
                    scores = self._tree_forward(trie, fwd.rows, [[remaining[i] for i in r.requests]
                                                                 for r in fwd.rows], paths, conts, stem)
                except Exception as exc:
                    if not (auto and is_oom(exc) and forward_tokens is not None and forward_tokens > longest):
                        raise
                    oom = True
                    break
                for i, score in zip(done, scores):
                    out[i] = score
                if on_batch is not None:
                    on_batch(done)
            if oom:  # outside the except block, so the traceback's tensors can be freed
                smaller = max(longest, forward_tokens // 2)
                self._auto_bs["tree_tokens"] = smaller
                log.warning("out of memory at %d tokens per call; retrying with %d", forward_tokens, smaller)
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            remaining = [i for i in remaining if out[i] is None]
        return out  # type: ignore[return-value]

    def _stem(self, inputs: list[list[int]], conts: list[list[int]]) -> tuple[int, list] | None:
        """(length, per-layer (keys, values)) of the prefix common to every input that ends before
        any first scored token, computed once; None when shorter than STEM_MIN (or one input)."""
        if len(inputs) < 2 or self._sliding_window() is not None:
            return None
        limit = min(len(x) - len(c) for x, c in zip(inputs, conts))
        first, n = inputs[0], 0
        while n < limit and all(x[n] == first[n] for x in inputs):
            n += 1
        if n < STEM_MIN:
            return None
        import torch

        ids = torch.tensor([first[:n]], device=self.device)
        out = self.model.get_decoder()(input_ids=ids, position_ids=torch.arange(n, device=self.device)[None],
                                       use_cache=True)
        self.stats.forward_calls += 1
        self.stats.tokens_forwarded += n
        self.stats.padded_tokens += n
        self.stats.stem_tokens += n
        return n, [(layer.keys, layer.values) for layer in out.past_key_values.layers]

    def _pack_rows(self, trie, rows, row_requests, paths, conts, offset: int = 0):
        """Token ids, position ids and the 4D mask of packed rows, and which position predicts
        which continuation token of which request.

        Each row is a set of trie nodes in ancestor-first order; a node attends to exactly its
        ancestors and itself (4D mask) at position id = its depth. Pads (right) attend only to
        themselves and are never read. Logits are computed only at nodes that predict a
        continuation token, once per node however many requests need them. With a stem of `offset`
        tokens (cached), the mask's first `offset` columns are the stem, which every node sees, and
        positions start after it.
        """
        import numpy as np

        from ..prefix import row_arrays

        n_rows, width = len(rows), max(len(r) for r in rows)
        ids = np.full((n_rows, width), self.pad_token_id, dtype=np.int64)
        pos = np.zeros((n_rows, width), dtype=np.int64)
        allowed = np.zeros((n_rows, 1, width, offset + width), dtype=bool)
        allowed[:, 0, :, :offset] = True  # the stem
        allowed[:, 0, np.arange(width), offset + np.arange(width)] = True  # pads see themselves (no NaN)
        need: dict[tuple[int, int], int] = {}
        owner: list[int] = []
        which: list[int] = []
        target: list[int] = []
        n_req = 0
        for r, (row, reqs) in enumerate(zip(rows, row_requests)):
            tok, depth, mask, col = row_arrays(trie, row)
            n = len(tok)
            ids[r, :n], pos[r, :n], allowed[r, 0, :n, offset:offset + n] = tok, depth + offset, mask
            for i in reqs:
                path, cont = paths[i], conts[i]
                first = len(path) - len(cont)  # the node predicting cont[0]
                for j, t in enumerate(cont):
                    key = (r, col[path[first + j]])
                    k = need.get(key)
                    if k is None:
                        k = need[key] = len(need)
                    owner.append(n_req)
                    which.append(k)
                    target.append(t)
                n_req += 1
        return ids, pos, allowed, need, owner, which, target, n_req

    def _tree_forward(self, trie, rows, row_requests, paths, conts, stem=None) -> list[tuple[float, bool]]:
        """One model call over packed rows (`_pack_rows`), after the cached `stem` when there is one;
        (logprob, is_greedy) per request, row by row."""
        import torch

        offset = stem[0] if stem else 0
        ids, pos, allowed, need, owner, which, target, n_req = self._pack_rows(trie, rows, row_requests, paths, conts,
                                                                               offset)
        dev = self.device
        if self.attn_implementation == "sdpa":
            mask_t = torch.from_numpy(allowed).to(dev)
        else:  # eager & co. add the mask to the scores
            mask_t = torch.zeros(allowed.shape, dtype=self._torch_dtype)
            mask_t.masked_fill_(torch.from_numpy(~allowed), torch.finfo(self._torch_dtype).min)
            mask_t = mask_t.to(dev)
        hidden = self._decoder_hidden(
            torch.from_numpy(ids).to(dev), mask_t, torch.from_numpy(pos).to(dev), stem and self._stem_cache(stem, len(rows))
        )
        sums, misses = self._score_states(hidden, list(need), which, target, owner, n_req)
        n_rows, width = ids.shape
        self.stats.forward_calls += 1
        self.stats.tokens_forwarded += sum(len(r) for r in rows)
        self.stats.padded_tokens += n_rows * width
        self.stats.logit_positions += len(need)
        return list(zip((float(x) for x in sums.tolist()), (m == 0 for m in misses.tolist())))

    def _score_states(self, hidden, keys, which, target, owner, n_req):
        """Summed log-probabilities and greedy misses per request, from the decoder's states at the
        positions (`keys`: (row, column)) that predict continuation tokens."""
        import torch

        rows_idx = torch.tensor([k[0] for k in keys], dtype=torch.long, device=hidden.device)
        cols_idx = torch.tensor([k[1] for k in keys], dtype=torch.long, device=hidden.device)
        states = hidden[rows_idx, cols_idx]  # [K, hidden]: only the positions that predict
        del hidden
        head = self._head_logits
        which_t = torch.tensor(which, dtype=torch.long, device=states.device)
        target_t = torch.tensor(target, dtype=torch.long, device=states.device)
        owner_t = torch.tensor(owner, dtype=torch.long, device=states.device)
        # The vocabulary-wide logits are the largest tensor here: make them LOGIT_CHUNK rows at a
        # time and keep only, per position, log-sum-exp, argmax and the targets' logits.
        exact = torch.promote_types(states.dtype, torch.float32)  # half precision upcast; float64 kept
        picked = torch.empty(len(which), dtype=exact, device=states.device)
        lse = torch.empty(len(keys), dtype=exact, device=states.device)
        best = torch.empty(len(keys), dtype=torch.long, device=states.device)
        for lo in range(0, len(keys), LOGIT_CHUNK):
            logits = head(states[lo : lo + LOGIT_CHUNK]).to(exact)
            lse[lo : lo + LOGIT_CHUNK] = torch.logsumexp(logits, dim=-1)
            best[lo : lo + LOGIT_CHUNK] = logits.argmax(dim=-1)
            sel = (which_t >= lo) & (which_t < lo + LOGIT_CHUNK)
            picked[sel] = logits[which_t[sel] - lo, target_t[sel]]
            del logits
        values = (picked - lse[which_t]).double()
        sums = torch.zeros(n_req, dtype=torch.float64, device=states.device).index_add_(0, owner_t, values)
        misses = torch.zeros(n_req, dtype=torch.long, device=states.device).index_add_(
            0, owner_t, (best[which_t] != target_t).long()
        )
        return sums, misses

    def _head_logits(self, states):
        """The model's logits from final hidden states: the output embedding, plus the final
        soft-capping (Gemma 2/3) or logit scale (Cohere) that the full model would apply."""
        import torch

        logits = self.model.get_output_embeddings()(states)
        cfg = self.model.config
        scale = getattr(cfg, "logit_scale", None)
        if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale != 1:
            logits = logits * scale
        cap = getattr(cfg, "final_logit_softcapping", None)
        if isinstance(cap, (int, float)) and not isinstance(cap, bool) and cap > 0:
            logits = torch.tanh(logits / cap) * cap
        return logits

    def _decoder_hidden(self, input_ids, attention_mask, position_ids, past=None):
        """Last hidden states of the decoder stack (final norm included): [rows, width, hidden]."""
        out = self.model.get_decoder()(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=past, use_cache=past is not None,
        )
        return out[0]

    def _stem_cache(self, stem: tuple[int, list], n_rows: int):
        """A fresh cache holding the stem's keys and values for each of `n_rows` rows (views, no copy)."""
        from transformers import DynamicCache

        return DynamicCache(ddp_cache_data=[(k.expand(n_rows, -1, -1, -1), v.expand(n_rows, -1, -1, -1))
                                            for k, v in stem[1]], config=self.model.config)

    def _prefix_sharing_ok(self) -> bool:
        """Verify once, on a small probe, that packed tree attention reproduces the plain scores
        (custom 4D masks and position ids honoured, decoder + output head = the model's logits).
        Models that fail (or raise) are scored the plain way, with a log message saying why."""
        if self._tree_ok is not None:
            return self._tree_ok
        import torch

        from ..prefix import plan

        vocab = int(self.model.get_output_embeddings().weight.shape[0]) if (
            self.model.get_output_embeddings() is not None) else 0
        ok, why = False, "the model has no output embeddings"
        if vocab > 16:
            pairs = _probe_pairs(vocab, self.max_length)
            inputs = [self.model_input(x, y) for x, y in pairs]
            p = plan(inputs, row_tokens=10)  # a and b share a row (8 nodes), c gets a padded one
            saved = self.stats.as_dict()
            try:
                with torch.inference_mode():
                    plain = PlainScoring._score_batch(self, pairs)  # not an instance-level spy
                    tree: list = [None] * len(pairs)
                    trie, paths = p.trie, p.paths
                    for fwd in p.forwards:
                        got = self._tree_forward(trie, fwd.rows, [r.requests for r in fwd.rows],
                                                 paths, [y for _, y in pairs])
                        for i, score in zip(fwd.requests, got):
                            tree[i] = score
                err = max(abs(x[0] - y[0]) for x, y in zip(plain, tree))
                tol = PROBE_TOLERANCE.get(self.dtype_name, 0.15)
                ok = err <= tol
                why = f"tree attention differs from the plain forward by {err:.3g} (> {tol})"
            except Exception as exc:  # noqa: BLE001 - any failure means "not supported here"
                ok, why = False, f"{type(exc).__name__}: {exc}"
            finally:
                for key, value in saved.items():
                    setattr(self.stats, key, value)
        if not ok:
            log.warning("prefix sharing disabled for %s (%s); scoring one sequence per request",
                        self.config.model, why)
        self._tree_ok = ok
        return ok
