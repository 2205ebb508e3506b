"""Peer for policy_bench: greedy decoding tokens/s of Hugging Face transformers.

Loads the model directory policy_bench saved (config.json + model.safetensors,
Llama layout), generates exactly --new_tokens tokens per row with the KV cache
(generate(), greedy, no stop token) after the same prompt, and prints one JSON
line: {"available": true, "tokens_per_s": ..., "tokens_per_cpu_s": ...,
"seconds": ..., "ids": [...]} (rates per wall and per CPU second of this process).
Without torch/transformers it prints {"available": false, "why": ...}.
"""
import argparse
import json
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model_dir", required=True)
    ap.add_argument("--prompt", required=True, help="comma-separated token ids")
    ap.add_argument("--new_tokens", type=int, default=256)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    try:
        import torch
        from transformers import AutoModelForCausalLM
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        print(json.dumps({"available": False, "why": f"import failed: {e}"}))
        return 0
    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(args.model_dir)  # fp32, as config.json says
    model.eval()
    prompt = [int(x) for x in args.prompt.split(",")]
    ids = torch.tensor([prompt] * args.batch, dtype=torch.long)
    kwargs = dict(do_sample=False, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                  eos_token_id=None, pad_token_id=0, use_cache=True)
    with torch.no_grad():
        model.generate(ids, **dict(kwargs, max_new_tokens=4, min_new_tokens=4))  # warm-up
        start, cpu_start = time.perf_counter(), time.process_time()
        out = model.generate(ids, **kwargs)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    generated = out[0, len(prompt):].tolist()
    print(json.dumps({"available": True, "seconds": seconds,
                      "tokens_per_s": args.batch * len(generated) / seconds,
                      "tokens_per_cpu_s": args.batch * len(generated) / cpu_seconds, "ids": generated,
                      "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
