"""Greedy generation with transformers: left-padded batches, per-row stop strings, max tokens and
EOS; batch size and out-of-memory back-off as for scoring (`PlainScoring._run_batched`)."""

from __future__ import annotations

from ..tokenized import GenerationItem, OnDone


class HFGeneration:
    """Mixin for `HFBackend`: needs `model`, `tokenizer`, `device`, `pad_token_id`,
    `eos_token_id` and `_run_batched`."""

    def _generate_tokens(self, items: list[GenerationItem], on_done: OnDone | None) -> list[str]:
        """Longest prompts first (OOM surfaces at once), batched; texts back in input order."""
        import torch

        order = sorted(range(len(items)), key=lambda i: (-len(items[i].ids), items[i].ids))
        callback = None
        if on_done is not None:

            def callback(lo: int, hi: int) -> None:
                on_done(order[lo:hi])

        batch = [(list(items[i].ids), items[i].max_new, items[i].stop) for i in order]
        with torch.inference_mode():
            outs = self._run_batched("generate", batch, self._generate_batch, callback)
        texts = [""] * len(items)
        for i, text in zip(order, outs):
            texts[i] = text
        return texts

    def _eos_ids(self) -> list[int]:
        ids: list[int] = []
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (gen_eos, self.eos_token_id):
            for t in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(t, int) and t not in ids:
                    ids.append(t)
        return ids

    def _decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _generate_batch(self, batch: list[tuple[list[int], int, tuple[str, ...]]]) -> list[str]:
        """Greedy decoding for one batch, left-padded; each row stops at its own max_tokens,
        first stop string, or EOS; the whole batch stops when every row has."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        width = max(len(ids) for ids, _, _ in batch)
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for row, (ids, _, _) in enumerate(batch):
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        max_new = max(m for _, m, _ in batch)
        limits = [m for _, m, _ in batch]
        stops = [s for _, _, s in batch]
        decode = self._decode

        class _RowStop(StoppingCriteria):
            def __call__(self, seqs, scores, **kwargs):
                done = torch.zeros(seqs.shape[0], dtype=torch.bool, device=seqs.device)
                n_new = seqs.shape[1] - width
                for r in range(seqs.shape[0]):
                    if n_new >= limits[r]:
                        done[r] = True
                    elif stops[r]:
                        text = decode(seqs[r, width:].tolist())
                        done[r] = any(s in text for s in stops[r])
                return done

        eos_ids = self._eos_ids()
        out = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            max_new_tokens=max_new,
            do_sample=False,
            num_beams=1,
            temperature=None,
            top_p=None,
            top_k=None,
            stopping_criteria=StoppingCriteriaList([_RowStop()]),
            pad_token_id=self.pad_token_id,
            eos_token_id=eos_ids or None,
        )
        texts = []
        for row, (_, limit, _) in enumerate(batch):
            new = out[row, width:].tolist()[:limit]
            for i, t in enumerate(new):
                if t in eos_ids:
                    new = new[:i]
                    break
            texts.append(self._decode(new))
        return texts
