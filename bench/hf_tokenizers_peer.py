#!/usr/bin/env python3
"""Times the Python peer, Hugging Face `tokenizers`, encoding the same text.

Spawned by bench/tokenizer_bench (it inherits that program's one-core CPU
pinning); runnable alone too:

    taskset -c 0 python3 bench/hf_tokenizers_peer.py \
        --tokenizer data/tokenizers/qwen3/tokenizer.json --docs docs.json

docs.json is a JSON list of strings (tokenizer_bench writes it). One pass calls
`Tokenizer.encode(doc, add_special_tokens=False)` on each document in order,
the same calls and text as ours (not encode_batch, which is multi-threaded).
Rayon parallelism is switched off (TOKENIZERS_PARALLELISM=false,
RAYON_NUM_THREADS=1) and the process runs on the CPU it was given. Prints one JSON object on stdout: {"available": false, "why":
...} when `tokenizers` cannot be imported, else MB/s (per CPU-second and per
wall-second), the id count and a hash of all ids (documents concatenated) so
the caller can check they equal its own.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")


def ids_hash(ids):
    """FNV-1a over the ids as little-endian int32, like tokenizer_bench's IdsHash."""
    h = 0xCBF29CE484222325
    for i in ids:
        for b in int(i).to_bytes(4, "little", signed=True):
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", required=True, help="tokenizer.json")
    ap.add_argument("--docs", required=True, help="JSON list of strings to encode")
    ap.add_argument("--min_time", type=float, default=2.0, help="seconds of timed encodes")
    args = ap.parse_args()

    try:
        import tokenizers
        from tokenizers import Tokenizer
    except Exception as e:  # ImportError, or a namespace package without the library
        print(json.dumps({"available": False, "why": f"cannot import tokenizers: {e}"}))
        return 0

    with open(args.docs, encoding="utf-8") as f:
        docs = json.load(f)
    nbytes = sum(len(d.encode("utf-8")) for d in docs)
    tok = Tokenizer.from_file(args.tokenizer)
    ids = []  # warm-up pass (and its cache)
    for d in docs:
        ids.extend(tok.encode(d, add_special_tokens=False).ids)

    runs = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while True:
        for d in docs:
            tok.encode(d, add_special_tokens=False)
        runs += 1
        if time.perf_counter() - wall0 >= args.min_time:
            break
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    print(json.dumps({
        "available": True,
        "version": getattr(tokenizers, "__version__", "unknown"),
        "python": sys.version.split()[0],
        "bytes": nbytes,
        "runs": runs,
        "mb_per_cpu_second": nbytes * runs / cpu / 1e6,
        "mb_per_wall_second": nbytes * runs / wall / 1e6,
        "num_ids": len(ids),
        "ids_hash": str(ids_hash(ids)),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
