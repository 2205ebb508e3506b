"""Writes rope_golden.json: Hugging Face's RoPE frequencies for each rope_scaling type.

For every case: the config.json fields (tests/rope_test.cc parses them with
ParseModelConfig), the inv_freq and attention factor from transformers'
ROPE_INIT_FUNCTIONS, and the cos/sin that LlamaRotaryEmbedding returns (fp32,
attention factor applied) at a few positions, first half of head_dim only (the
second half repeats it).

    pip install torch transformers   # CPU torch is enough
    python tests/data/make_rope_golden.py > tests/data/rope_golden.json
"""
import copy
import json
import sys

import torch
import transformers
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

CASES = [
    # name, config fields, positions
    ("default", dict(hidden_size=512, num_attention_heads=8, max_position_embeddings=2048,
                     rope_theta=10000.0), [0, 1, 7, 100]),
    ("linear", dict(hidden_size=512, num_attention_heads=8, max_position_embeddings=4096,
                    rope_theta=10000.0, rope_scaling={"rope_type": "linear", "factor": 4.0}),
     [0, 1, 7, 100]),
    # "type" is the old spelling of "rope_type".
    ("dynamic_short", dict(hidden_size=256, num_attention_heads=4, max_position_embeddings=512,
                           rope_theta=10000.0, rope_scaling={"type": "dynamic", "factor": 2.0}),
     [0, 3, 200]),
    ("dynamic_long", dict(hidden_size=256, num_attention_heads=4, max_position_embeddings=512,
                          rope_theta=10000.0, rope_scaling={"type": "dynamic", "factor": 2.0}),
     [0, 3, 1500]),
    # Llama 3.1's published values.
    ("llama3", dict(hidden_size=4096, num_attention_heads=32, max_position_embeddings=131072,
                    rope_theta=500000.0,
                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                  "high_freq_factor": 4.0,
                                  "original_max_position_embeddings": 8192}), [0, 1, 7, 100]),
    # Qwen2.5's long-context recipe.
    ("yarn", dict(hidden_size=896, num_attention_heads=14, max_position_embeddings=131072,
                  rope_theta=1000000.0,
                  rope_scaling={"type": "yarn", "factor": 4.0,
                                "original_max_position_embeddings": 32768}), [0, 1, 7, 100]),
    ("yarn_mscale", dict(hidden_size=512, num_attention_heads=8, max_position_embeddings=163840,
                         rope_theta=10000.0,
                         rope_scaling={"rope_type": "yarn", "factor": 40.0, "beta_fast": 32,
                                       "beta_slow": 1, "mscale": 0.707, "mscale_all_dim": 1.0,
                                       "original_max_position_embeddings": 4096}), [0, 1, 7, 100]),
    ("yarn_untruncated", dict(hidden_size=256, num_attention_heads=4, max_position_embeddings=16384,
                              rope_theta=10000.0,
                              rope_scaling={"rope_type": "yarn", "factor": 8.0, "beta_fast": 16,
                                            "beta_slow": 2, "truncate": False,
                                            "attention_factor": 1.25,
                                            "original_max_position_embeddings": 2048}),
     [0, 1, 7, 100]),
]


def f32(x):
    return [float(v) for v in x.to(torch.float32).tolist()]


def main():
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "cases": []}
    for name, fields, positions in CASES:
        config_json = dict(architectures=["LlamaForCausalLM"], model_type="llama", vocab_size=64,
                           intermediate_size=64, num_hidden_layers=1, **fields)
        # transformers 5 edits the rope dict it is given (adds rope_theta): pass a copy.
        config = LlamaConfig(**copy.deepcopy({k: v for k, v in config_json.items() if k != "architectures"}))
        scaling = fields.get("rope_scaling", {})
        rope_type = scaling.get("rope_type", scaling.get("type", "default"))
        seq_len = max(positions) + 1
        if rope_type == "default":
            head_dim = fields["hidden_size"] // fields["num_attention_heads"]
            inv_freq = 1.0 / (fields["rope_theta"] ** (torch.arange(0, head_dim, 2).float() / head_dim))
            attention = 1.0
        else:
            inv_freq, attention = ROPE_INIT_FUNCTIONS[rope_type](config, "cpu", seq_len=seq_len)
        rotary = LlamaRotaryEmbedding(config)
        pos = torch.tensor([positions])
        cos, sin = rotary(torch.zeros(1, dtype=torch.float32), pos)
        half = cos.shape[-1] // 2
        out["cases"].append({
            "name": name,
            "config": config_json,
            "seq_len": seq_len,
            "inv_freq": f32(inv_freq),
            "attention_factor": float(attention),
            "positions": positions,
            "cos": [f32(row[:half]) for row in cos[0]],
            "sin": [f32(row[:half]) for row in sin[0]],
        })
    json.dump(out, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
