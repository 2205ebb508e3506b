#!/usr/bin/env python3
"""Writes the GGUF fixtures of tests/gguf_test.cc into tests/data/gguf/ with
gguf-py (the reference GGUF writer and quantizers of llama.cpp):

  quant_types.gguf       random tensors in F32, F16, BF16, Q8_0, Q4_0, Q4_1 (and
                         one Q5_0, which the loader must refuse), each beside its
                         gguf-py dequantization as F32 "<name>.expected"; metadata
                         of every value type (arrays, nested arrays); alignment 64.
  stories260K_f32.gguf   data/models/stories260K as a llama-arch GGUF in F32, Q/K
                         rows permuted as convert_hf_to_gguf.py does, with the
                         tok512.bin vocabulary as a "llama" (SentencePiece) tokenizer.
  qwen2_tiny.gguf        a random 2-layer qwen2-arch model (q/k/v biases, untied
                         output.weight; Q/K not permuted, as llama.cpp stores qwen2)
  qwen2_tiny/            the same weights as an HF directory (config.json +
                         model.safetensors) to compare logits with;
                         with a small byte-level BPE trained here by HF `tokenizers`
                         (Qwen2's pre-tokenizer) stored as a "gpt2" vocabulary,
                         pre "qwen2"; qwen2_tiny_tokenizer.json holds that
                         library's ids for a few strings.

Regenerate (deterministic):  pip install gguf numpy safetensors tokenizers
                             python3 tests/data/make_gguf_fixtures.py
"""
import os
import struct

import gguf
import numpy as np
from gguf import quants
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests/data/gguf")
T = gguf.GGMLQuantizationType


def quant_types():
    rng = np.random.default_rng(1234)
    w = gguf.GGUFWriter(os.path.join(OUT, "quant_types.gguf"), "test")
    w.data_alignment = 64
    w.add_uint32("general.alignment", 64)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float32("test.f32", 0.25)
    w.add_float64("test.f64", 1e-300)
    w.add_bool("test.bool", True)
    w.add_string("test.str", "h\u00e9llo")
    w.add_array("test.arr_i32", [1, -2, 3])
    w.add_array("test.arr_str", ["a", "", "\u2581b"])
    w.add_array("test.arr_f32", [0.5, -1.5])
    w.add_array("test.arr_nested", [[1, 2], [3]])
    for name, qtype, shape in [("f32", T.F32, (3, 64)), ("f16", T.F16, (3, 64)), ("bf16", T.BF16, (3, 64)),
                               ("q8_0", T.Q8_0, (4, 96)), ("q4_0", T.Q4_0, (4, 96)), ("q4_1", T.Q4_1, (4, 96)),
                               ("q5_0", T.Q5_0, (2, 32))]:
        x = (rng.standard_normal(shape) * 2).astype(np.float32)
        x[0, :5] = [0.0, 1e-6, -65504.0 if qtype == T.F16 else 3.0, 7e-5, -0.0]
        if qtype == T.F32:
            w.add_tensor(name, x)
            expected = x
        elif qtype == T.F16:
            w.add_tensor(name, x.astype(np.float16))
            expected = x.astype(np.float16).astype(np.float32)
        else:
            q = quants.quantize(x, qtype)
            w.add_tensor(name, q, raw_shape=q.shape, raw_dtype=qtype)
            expected = quants.dequantize(q, qtype).astype(np.float32)
        if qtype != T.Q5_0:
            w.add_tensor(name + ".expected", expected)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def permute(wt, n_head):  # convert_hf_to_gguf.py LlamaModel.permute: HF rotate_half -> interleaved
    return wt.reshape(n_head, 2, wt.shape[0] // n_head // 2, *wt.shape[1:]).swapaxes(1, 2).reshape(wt.shape)


def load_tok512(path):
    b = open(path, "rb").read()
    off = 4
    pieces, scores = [], []
    for _ in range(512):
        s, n = struct.unpack_from("<fi", b, off)
        off += 8
        pieces.append(b[off:off + n].decode("utf-8"))
        scores.append(s)
        off += n
    return pieces, scores


def stories():
    d = os.path.join(ROOT, "data/models/stories260K")
    sd = load_file(os.path.join(d, "model.safetensors"))
    n_head, n_kv, dim, layers = 8, 4, 64, 5
    w = gguf.GGUFWriter(os.path.join(OUT, "stories260K_f32.gguf"), "llama")
    w.add_name("stories260K")
    w.add_context_length(512)
    w.add_embedding_length(dim)
    w.add_block_count(layers)
    w.add_feed_forward_length(172)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(dim // n_head)
    w.add_file_type(0)
    pieces, scores = load_tok512(os.path.join(d, "tok512.bin"))
    types = []
    for i, p in enumerate(pieces):
        if i == 0:
            types.append(2)
        elif i <= 2:
            types.append(3)
        elif p.startswith("<0x") and len(p) == 6:
            types.append(6)
        else:
            types.append(1)
    pieces = ["<s>" if i == 1 else "</s>" if i == 2 else (p if types[i] == 6 else p.replace(" ", "\u2581"))
              for i, p in enumerate(pieces)]
    w.add_tokenizer_model("llama")
    w.add_token_list(pieces)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_space_prefix(True)
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    for i in range(layers):
        p = f"model.layers.{i}."
        w.add_tensor(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"])
        w.add_tensor(f"blk.{i}.attn_q.weight", permute(sd[p + "self_attn.q_proj.weight"], n_head))
        w.add_tensor(f"blk.{i}.attn_k.weight", permute(sd[p + "self_attn.k_proj.weight"], n_kv))
        w.add_tensor(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"])
        w.add_tensor(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"])
        w.add_tensor(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"])
        w.add_tensor(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def tiny_bpe():
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=330, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  show_progress=False)
    text = ("Real, publicly released model weights for the policy model. The tests load them and check "
            "the forward pass against the reference logits and greedy generation. Every file was copied "
            "byte for byte from the shared model store, whose README records where each came from. "
            "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
            "It's 2026; they'll see the 1234567890 numbers and the caf\u00e9 menus.\n")
    tok.train_from_iterator([text] * 3, trainer)
    return tok


def qwen2():
    import json
    from safetensors.numpy import save_file
    tok = tiny_bpe()
    vocab = tok.get_vocab()
    n_vocab = len(vocab)
    tokens = [None] * n_vocab
    for t, i in vocab.items():
        tokens[i] = t
    j = json.loads(tok.to_str())
    merges = [m if isinstance(m, str) else " ".join(m) for m in j["model"]["merges"]]
    specials = {a["id"] for a in j["added_tokens"]}
    rng = np.random.default_rng(7)
    hidden, inter, layers, heads, kv = 32, 48, 2, 4, 2
    hd = hidden // heads
    def r(*shape):
        return (rng.standard_normal(shape) * 0.2).astype(np.float32)
    sd = {"model.embed_tokens.weight": r(n_vocab, hidden), "model.norm.weight": 1 + r(hidden),
          "lm_head.weight": r(n_vocab, hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        sd.update({p + "input_layernorm.weight": 1 + r(hidden), p + "post_attention_layernorm.weight": 1 + r(hidden),
                   p + "self_attn.q_proj.weight": r(heads * hd, hidden), p + "self_attn.q_proj.bias": r(heads * hd),
                   p + "self_attn.k_proj.weight": r(kv * hd, hidden), p + "self_attn.k_proj.bias": r(kv * hd),
                   p + "self_attn.v_proj.weight": r(kv * hd, hidden), p + "self_attn.v_proj.bias": r(kv * hd),
                   p + "self_attn.o_proj.weight": r(hidden, heads * hd),
                   p + "mlp.gate_proj.weight": r(inter, hidden), p + "mlp.up_proj.weight": r(inter, hidden),
                   p + "mlp.down_proj.weight": r(hidden, inter)})
    d = os.path.join(OUT, "qwen2_tiny")
    os.makedirs(d, exist_ok=True)
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    config = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": hidden,
              "intermediate_size": inter, "num_hidden_layers": layers, "num_attention_heads": heads,
              "num_key_value_heads": kv, "vocab_size": n_vocab, "max_position_embeddings": 128,
              "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu",
              "tie_word_embeddings": False, "torch_dtype": "float32"}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)
    w = gguf.GGUFWriter(os.path.join(OUT, "qwen2_tiny.gguf"), "qwen2")
    w.add_context_length(128)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(inter)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_rope_freq_base(1000000.0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("qwen2")
    w.add_token_list(tokens)
    w.add_token_types([3 if i in specials else 1 for i in range(n_vocab)])
    w.add_token_merges(merges)
    w.add_eos_token_id(vocab["<|im_end|>"])
    w.add_tensor("token_embd.weight", sd["model.embed_tokens.weight"])
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    w.add_tensor("output.weight", sd["lm_head.weight"])
    names = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
             "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
             "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
             "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
             "self_attn.o_proj.weight": "attn_output.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
             "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight"}
    for i in range(layers):
        for hf, gg in names.items():
            w.add_tensor(f"blk.{i}.{gg}", sd[f"model.layers.{i}.{hf}"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    texts = ["Real, publicly released model weights", "stories260K/tok512.bin: 6,227 bytes!",
             "  spaces\t\ttabs\r\nCRLF\n\n", "caf\u00e9 CAF\u00c9 e\u0301", "It's 2026; they'll see.",
             "<|im_start|>user\nhi<|im_end|>\n", "\u4f60\u597d \U0001F600", "x=1234567890"]
    cases = [{"text": t, "ids": tok.encode(t).ids} for t in texts]
    with open(os.path.join(OUT, "qwen2_tiny_tokenizer.json"), "w") as f:
        json.dump({"reference": "HF tokenizers (Python) on the same vocabulary", "cases": cases}, f, indent=1,
                  ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    quant_types()
    stories()
    qwen2()
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)))
