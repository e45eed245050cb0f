"""Plain scoring (lm-eval's algorithm): one right-padded forward per batch of token pairs, and the
batching / out-of-memory back-off shared with generation."""

from __future__ import annotations

import gc
import logging
from typing import Callable

from ..tokenized import OnDone, TokenPair
from .loading import is_oom

log = logging.getLogger(__name__)

CPU_AUTO_BATCH_SIZE = 16
CUDA_AUTO_BATCH_SIZE = {"loglikelihood": 128, "generate": 64}


class PlainScoring:
    """Mixin for `HFBackend`: needs `model`, `device`, `pad_token_id`, `max_length`, `stats`,
    `_batch_size_setting`, `_auto_bs`, `_logits_to_keep_arg`."""

    def _start_batch_size(self, kind: str) -> int:
        if isinstance(self._batch_size_setting, int):
            return self._batch_size_setting
        if kind in self._auto_bs:
            return self._auto_bs[kind]
        if self.device.startswith("cuda"):
            return CUDA_AUTO_BATCH_SIZE[kind]
        return CPU_AUTO_BATCH_SIZE

    def _run_batched(
        self,
        kind: str,
        items: list,
        run: Callable[[list], list],
        on_batch: Callable[[int, int], None] | None,
    ) -> list:
        """Apply `run` to consecutive chunks of `items`; halve the chunk on OOM when 'auto'."""
        import torch

        out: list = []
        bs = self._start_batch_size(kind)
        auto = self._batch_size_setting == "auto"
        start = 0
        while start < len(items):
            chunk = items[start : start + bs]
            oom = False
            try:
                out.extend(run(chunk))
            except Exception as exc:
                if not (auto and is_oom(exc) and bs > 1):
                    raise
                oom = True
            if oom:  # outside the except block, so the traceback's tensors can be freed
                bs = max(1, bs // 2)
                self._auto_bs[kind] = bs
                log.warning("out of memory at batch size %d; retrying with %d", bs * 2, bs)
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            if on_batch is not None:
                on_batch(start, start + len(chunk))
            start += len(chunk)
        return out

    def _loglikelihood_plain(
        self,
        pairs: list[TokenPair],
        on_batch: OnDone | None = None,
    ) -> list[tuple[float, bool]]:
        """lm-eval's way: one full forward per pair.

        Sorted by total length, longest first (lm-eval's order: OOMs surface at once and each
        batch's first row fixes its padded length), batched, results put back in input order.
        """
        order = sorted(
            range(len(pairs)),
            key=lambda i: (-(len(pairs[i][0]) + len(pairs[i][1])), tuple(pairs[i][0] + pairs[i][1])),
        )
        callback = None
        if on_batch is not None:

            def callback(lo: int, hi: int) -> None:
                on_batch(order[lo:hi])

        sorted_scores = self._run_batched(
            "loglikelihood", [pairs[i] for i in order], self._score_batch, callback
        )
        out: list[tuple[float, bool]] = [(0.0, True)] * len(pairs)
        for i, score in zip(order, sorted_scores):
            out[i] = score
        return out

    def _score_batch(self, batch: list[TokenPair]) -> list[tuple[float, bool]]:
        """One right-padded forward for `batch`; log-softmax only where continuations sit.

        No attention mask is needed: with right padding and a causal model, real positions never
        attend to the pads after them, and position ids 0..n-1 are already right (lm-eval does the
        same).
        """
        import torch

        inputs = [self.model_input(ctx, cont) for ctx, cont in batch]
        width = max(len(x) for x in inputs)
        self.stats.forward_calls += 1
        self.stats.tokens_forwarded += sum(len(x) for x in inputs)
        self.stats.padded_tokens += width * len(inputs)
        self.stats.logit_positions += sum(len(cont) for _, cont in batch)
        ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        for row, inp in enumerate(inputs):
            ids[row, : len(inp)] = torch.tensor(inp, dtype=torch.long)
        # Continuation tokens of row r are predicted at positions [len(inp) - len(cont), len(inp)).
        starts = [len(inp) - len(cont) for inp, (_, cont) in zip(inputs, batch)]
        first = min(starts)
        logits = self._forward(ids.to(self.device), keep=width - first)  # positions [first, width)

        logprobs, greedy = [], []
        for row, (inp, (_, cont)) in enumerate(zip(inputs, batch)):
            rows = logits[row, starts[row] - first : len(inp) - first]
            rows = rows.to(torch.promote_types(rows.dtype, torch.float32))  # half precision upcast; float64 kept
            target = torch.tensor(cont, dtype=torch.long, device=rows.device)
            lp = torch.log_softmax(rows, dim=-1)
            logprobs.append(lp.gather(-1, target.unsqueeze(-1)).sum())
            greedy.append((rows.argmax(dim=-1) == target).all())
        return list(
            zip(
                (float(x) for x in torch.stack(logprobs).tolist()),
                (bool(x) for x in torch.stack(greedy).tolist()),
            )
        )

    def _forward(self, input_ids, keep: int):
        """Logits for the last `keep` positions of each row: [batch, keep, vocab]."""
        width = input_ids.shape[1]
        kwargs = {}
        if self._logits_to_keep_arg is not None and keep < width:
            kwargs[self._logits_to_keep_arg] = keep
        logits = self.model(input_ids=input_ids, use_cache=False, **kwargs).logits
        if logits.shape[1] != keep:
            logits = logits[:, -keep:]
        return logits
