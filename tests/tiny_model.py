"""A tiny, seeded, random-weight Llama model with a real (trained in-process) BPE tokenizer.

`build_tiny_model_dir(path)` writes it with `save_pretrained`, so loading it exercises the
"local directory" path of model resolution. No network, ~1 s.
"""

from __future__ import annotations

from pathlib import Path

EOS = "<|endoftext|>"
PAD = "<|pad|>"

_CORPUS = [
    "Question: What is the capital city of France?\nAnswer: Paris",
    "Question: What is the capital city of Italy?\nAnswer: Rome",
    "Question: What is the capital city of Spain?\nAnswer: Madrid",
    "The quick brown fox jumps over the lazy dog.",
    "A nurse, a doctor and an engineer walked into the hospital.",
    "Is the following statement true or false? The sky is green.",
    "def add(a, b):\n    return a + b\n",
    "1 + 1 = 2, 2 + 2 = 4, 3 + 3 = 6, 10 * 10 = 100.",
    "She said hello. He said goodbye. They said nothing at all.",
    "Lyon, Marseille, Toulouse, Nice, Nantes and Strasbourg are cities in France.",
    "Choices: (A) yes (B) no (C) maybe. The answer is (A).",
    "   leading spaces and trailing spaces   ",
]


def build_tokenizer(vocab_size: int = 400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, pad_token=PAD, model_max_length=96
    )


def build_tiny_model_dir(path: str | Path, seed: int = 0) -> Path:
    """Write a tiny seeded LlamaForCausalLM + tokenizer into `path`; returns `path`.

    No BOS token (so an empty context falls back to EOS); max_position_embeddings=96 so long
    requests exercise left truncation; initializer_range=0.3 so distributions are peaked enough
    for off-by-one mistakes to change scores visibly.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=96,
        initializer_range=0.3,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.float32).eval()
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def _llama_cpp_permute(w, n_head: int, n_head_kv: int | None = None):
    """llama.cpp's convert_hf_to_gguf q/k permutation (transformers undoes it when loading)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def write_tiny_gguf(model_dir: str | Path, out_path: str | Path) -> Path:
    """Write the tiny model of `model_dir` as an F32 llama GGUF file (llama.cpp layout).

    Lets tests exercise the generic `.gguf` conversion path in ~1 s: converting this file back
    must reproduce the original model's logits and tokenization.
    """
    import json

    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    model_dir, out_path = Path(model_dir), Path(out_path)
    cfg = json.loads((model_dir / "config.json").read_text())
    tok = json.loads((model_dir / "tokenizer.json").read_text())
    weights = load_file(str(model_dir / "model.safetensors"))

    vocab = tok["model"]["vocab"]
    for added in tok.get("added_tokens", []):
        vocab[added["content"]] = added["id"]
    tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    assert [vocab[t] for t in tokens] == list(range(len(tokens)))
    special = {a["content"] for a in tok.get("added_tokens", []) if a.get("special")}
    merges = [m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]]

    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    w = gguf.GGUFWriter(str(out_path), arch="llama")
    w.add_name("misalign tiny llama")
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(cfg["num_hidden_layers"])
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    rope = (cfg.get("rope_parameters") or {}).get("rope_theta") or cfg.get("rope_theta", 10000.0)
    w.add_rope_freq_base(float(rope))
    w.add_rope_dimension_count(cfg["hidden_size"] // n_head)
    w.add_vocab_size(len(tokens))
    w.add_file_type(0)  # ALL_F32
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([3 if t in special else 1 for t in tokens])
    w.add_token_merges(merges)
    w.add_eos_token_id(cfg["eos_token_id"])
    w.add_pad_token_id(cfg["pad_token_id"])
    w.add_add_bos_token(False)

    def put(name: str, array) -> None:
        w.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))

    put("token_embd.weight", weights["model.embed_tokens.weight"])
    put("output_norm.weight", weights["model.norm.weight"])
    put("output.weight", weights["lm_head.weight"])
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        put(f"blk.{i}.attn_norm.weight", weights[p + "input_layernorm.weight"])
        put(f"blk.{i}.attn_q.weight", _llama_cpp_permute(weights[p + "self_attn.q_proj.weight"], n_head, n_head))
        put(f"blk.{i}.attn_k.weight", _llama_cpp_permute(weights[p + "self_attn.k_proj.weight"], n_head, n_kv))
        put(f"blk.{i}.attn_v.weight", weights[p + "self_attn.v_proj.weight"])
        put(f"blk.{i}.attn_output.weight", weights[p + "self_attn.o_proj.weight"])
        put(f"blk.{i}.ffn_norm.weight", weights[p + "post_attention_layernorm.weight"])
        put(f"blk.{i}.ffn_gate.weight", weights[p + "mlp.gate_proj.weight"])
        put(f"blk.{i}.ffn_up.weight", weights[p + "mlp.up_proj.weight"])
        put(f"blk.{i}.ffn_down.weight", weights[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out_path
