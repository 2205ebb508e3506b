#!/usr/bin/env python3
"""Reads a grpo run's TensorBoard event files with stock TensorBoard and checks
that every scalar equals the run's metrics.jsonl (to float32 precision).

    pip install tensorboard   # in a venv; the product itself needs no Python
    python3 scripts/check_tensorboard.py runs/mini_r1

Exit 0 when every numeric metric of every step is in the event files; 1 with
the first difference otherwise.
"""
import json
import math
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main(run_dir):
    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    scalars = {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in tags}
    checked = 0
    with open(f"{run_dir}/metrics.jsonl") as f:
        for line in f:
            m = json.loads(line)
            step = m["step"]
            for key, value in m.items():
                if key == "step" or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                got = scalars.get(key, {}).get(step)
                if got is None or not math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-30):
                    print(f"FAIL: {key} at step {step}: metrics.jsonl {value}, TensorBoard {got}")
                    return 1
                checked += 1
    print(f"ok: TensorBoard read {len(tags)} scalar tags; {checked} values equal metrics.jsonl")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "runs/mini_r1"))
