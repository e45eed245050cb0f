"""Seeded random-weight models built from a config: the same weights on every machine and device.

The GPU machine cannot receive the embedded model's 94 MB GGUF, so the GPU path is proven on models
built here from a config and a seed: SmolLM2-135M's architecture (`smollm2-arch`) and a ~1.2B
Llama-style one (`llama-1b`: TinyLlama's shape with SmolLM2's vocabulary). Built once on the CPU
with `torch.manual_seed`, saved with `save_pretrained`, then loaded on each device: CPU and CUDA
read the very same float32 weights.

`scale="dry"` keeps every architectural feature (grouped-query attention, tied or untied
embeddings, RMSNorm, RoPE) but shrinks widths and depth, for the CPU dry run of bench/gpu_check.py.
"""

from __future__ import annotations

from pathlib import Path

# SmolLM2-135M-Instruct's config.json (HuggingFaceTB), and TinyLlama-1.1B's shape on SmolLM2's vocabulary.
ARCHS: dict[str, dict] = {
    "smollm2-arch": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                         num_key_value_heads=3, max_position_embeddings=8192, rope_theta=100000.0,
                         rms_norm_eps=1e-5, tie_word_embeddings=True),
    "llama-1b": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                     num_key_value_heads=4, max_position_embeddings=2048, rope_theta=10000.0,
                     rms_norm_eps=1e-5, tie_word_embeddings=False),
}
DRY = {"smollm2-arch": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2),
       "llama-1b": dict(hidden_size=96, intermediate_size=192, num_hidden_layers=3, num_attention_heads=6,
                        num_key_value_heads=2)}


def parameter_count(arch: str, vocab: int = 49152, scale: str = "full") -> int:
    """Parameters of the built model (embeddings counted once when tied)."""
    c = {**ARCHS[arch], **(DRY[arch] if scale == "dry" else {})}
    h, i, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    kv = h // c["num_attention_heads"] * c["num_key_value_heads"]
    per_layer = 2 * h * h + 2 * h * kv + 3 * h * i + 2 * h
    return vocab * h * (1 if c["tie_word_embeddings"] else 2) + layers * per_layer + h


def build_seeded_model(path: str | Path, arch: str, tokenizer_dir: str | Path | None = None, *,
                       seed: int = 0, scale: str = "full") -> Path:
    """Write a seeded LlamaForCausalLM of `arch` (float32) and a tokenizer into `path`.

    The tokenizer is the one in `tokenizer_dir` (SmolLM2's, for realistic text) or, without one,
    the tiny trained BPE of tests/tiny_model.py (the vocabulary then shrinks to fit it)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if tokenizer_dir is not None:
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    else:
        from tiny_model import build_tokenizer

        tokenizer = build_tokenizer()
    shape = {**ARCHS[arch], **(DRY[arch] if scale == "dry" else {})}
    eos = tokenizer.eos_token_id
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=eos,
                         pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
                         initializer_range=0.02, **shape)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    (path / "SEEDED.txt").write_text(f"arch={arch} scale={scale} seed={seed}\n", encoding="utf-8")
    return path
