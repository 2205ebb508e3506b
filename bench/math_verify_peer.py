#!/usr/bin/env python3
"""Times the Python peer, Math-Verify, on the same 800 Qwen2.5-Math completions.

Spawned by bench/math_checker_bench (it inherits that program's one-core CPU
pinning); runnable alone too:

    taskset -c 0 python3 bench/math_verify_peer.py --data data/qwen25math_math_cot_100.jsonl

One check is what MathChecker::Check does: read the gold, extract and read the
answer of the response, compare. Gold is parsed as Math-Verify recommends for
bare answers, wrapped in $...$ (falling back to \\boxed{...}); the response is
parsed with the default extraction configs. Prints one JSON object on stdout:
{"available": false, "why": ...} when math_verify cannot be imported, else the
timing, the verdicts and their agreement with Qwen's labels.
"""

import argparse
import json
import os
import sys
import time


def load_pairs(path):
    """(response, gold, label) for every response of every row, in file order."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            for response, label in zip(row["response"], row["score"]):
                pairs.append((response, row["answer"], bool(label)))
    return pairs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="qwen25math_math_cot_100.jsonl")
    ap.add_argument("--limit", type=int, default=0, help="check only the first N pairs (0: all)")
    ap.add_argument("--warmup", type=int, default=8,
                    help="untimed checks first (sympy and regex set-up is not per-check work)")
    ap.add_argument("--clear_caches", action="store_true",
                    help="empty Math-Verify's parse caches before every check, so the 8 "
                         "responses of a problem do not reuse the gold's (or each other's) parse")
    args = ap.parse_args()

    try:
        import math_verify
        from math_verify import parse, verify
    except Exception as e:  # ImportError, or a broken install of its dependencies
        print(json.dumps({"available": False, "why": f"cannot import math_verify: {e}"}))
        return 0
    try:
        from importlib.metadata import version
        mv_version = version("math-verify")
    except Exception:
        mv_version = getattr(math_verify, "__version__", "unknown")

    pairs = load_pairs(args.data)
    if args.limit > 0:
        pairs = pairs[: args.limit]

    import math_verify.parser as mv_parser
    caches = [getattr(mv_parser, name) for name in ("parse_latex_cached", "parse_expr_cached")
              if hasattr(getattr(mv_parser, name, None), "cache_clear")]

    def check(response, gold):
        if args.clear_caches:
            for cache in caches:
                cache.cache_clear()
        g = parse("$" + gold + "$")
        if not g:
            g = parse("\\boxed{" + gold + "}")
        p = parse(response)
        return bool(verify(g, p))

    for response, gold, _ in pairs[: args.warmup]:
        check(response, gold)

    verdicts = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for response, gold, _ in pairs:
        try:
            verdicts.append(check(response, gold))
        except Exception:  # Math-Verify itself returns False on its errors; be as lenient
            verdicts.append(False)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0

    n = len(pairs)
    agree = sum(v == label for v, (_, _, label) in zip(verdicts, pairs))
    print(json.dumps({
        "available": True,
        "version": mv_version,
        "python": sys.version.split()[0],
        "cpus": sorted(os.sched_getaffinity(0)),
        "clear_caches": args.clear_caches,
        "checks": n,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "checks_per_cpu_second": n / cpu if cpu > 0 else 0.0,
        "checks_per_wall_second": n / wall if wall > 0 else 0.0,
        "agree_with_labels": agree,
        "verdicts": verdicts,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
