#!/usr/bin/env python3
"""Reference for the SmolLM2-135M-Instruct Q4_1 GGUF test (tests/gguf_test.cc,
GgufSmolLM2.*): Hugging Face transformers loads the GGUF (dequantizing it to
fp32, undoing llama.cpp's Q/K permutation itself) and greedy-decodes 30 tokens
after the ChatML prompt. Writes tests/data/smollm2_q4_1_golden.json.

    pip install torch transformers gguf
    scripts/fetch_smollm2.sh /tmp/smol        # or any copy of the file
    python3 tests/data/make_smollm2_golden.py /tmp/smol/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import json
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

path = sys.argv[1]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "smollm2_q4_1_golden.json")
d, f = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32)
model.eval()
prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
ids = tok(prompt, add_special_tokens=False)["input_ids"]
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0, -1].double()
    gen = model.generate(torch.tensor([ids]), max_new_tokens=30, do_sample=False,
                         attention_mask=torch.ones(1, len(ids), dtype=torch.long))
new = gen[0, len(ids):].tolist()
top = torch.topk(logits, 50)
TOKENIZER_CASES = [
    "Hello world", "  leading and   inner   spaces ", "digits 1234567 and 3.14159", "na\u00efve caf\u00e9",
    "\u4f60\u597d\uff0c\u4e16\u754c", "emoji \U0001F600\U0001F680", "def f(x):\n\treturn x**2\n",
    "<|im_start|>system\nBe brief.<|im_end|>\n", "don't won't I'm we'll they've", "line\r\nbreaks\n\n\nend",
    "UPPER lower 42nd", "$100,000.00 (approx.)", "\u00a0non-breaking\u00a0space", "a\u0301 combining",
]
res = {
    "file": f,
    "reference": f"transformers {__import__('transformers').__version__} (GGUF dequantized to fp32), torch {torch.__version__}",
    "prompt": prompt,
    "prompt_ids": ids,
    "greedy_ids": new,
    "greedy_text": tok.decode(new),
    "tokenizer_cases": [{"text": t, "ids": tok(t, add_special_tokens=False)["input_ids"]} for t in TOKENIZER_CASES],
    "last_logits_top50": {"ids": top.indices.tolist(), "values": [round(v, 5) for v in top.values.tolist()]},
}
with open(out, "w") as fh:
    json.dump(res, fh, indent=1)
    fh.write("\n")
logits.float().numpy().tofile(os.environ.get("SMOLLM2_REF_LOGITS", "/tmp/smollm2_ref_logits.f32"))
print(json.dumps({k: res[k] for k in ("prompt_ids", "greedy_ids", "greedy_text")}))
