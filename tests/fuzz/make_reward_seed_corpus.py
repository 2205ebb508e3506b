#!/usr/bin/env python3
"""Writes the seed corpus of reward_request_fuzz into tests/fuzz/reward_corpus/.

Each seed is a binary ScoreRequest (proto/reward.proto), encoded from text
format by `protoc --encode`, plus a few plain-text seeds (the fuzz target
scores bytes that are not a ScoreRequest as one completion). Files are named
by their sha1, so running the script again adds nothing new. Run from the
repository root.
"""
import hashlib
import json
import os
import subprocess

OUT = "tests/fuzz/reward_corpus"

MATH = 'components { name: "math_accuracy" weight: 1 }'
FORMAT = 'components { name: "format" weight: 0.1 }'


def sample(sid, completion, ref='reference { math_answer: "42" }', extra=MATH):
    return 'samples { id: %s completion: %s %s %s }' % (
        json.dumps(sid), json.dumps(completion), ref, extra)


SEEDS = [
    sample("a", "The answer is \\boxed{42}."),
    sample("b", "<think>6*7</think> \\boxed{42}", extra=MATH + " " + FORMAT),
    sample("c", "x = 5", ref='reference { math_answer: "#### 5" }',
           extra='components { name: "math_accuracy" weight: 1 params { key: "gold_format" value: "GSM8K" } }'),
    sample("d", "\\boxed{25\\%}", ref='reference { math_answer: "0.25" }',
           extra='components { name: "math_accuracy" weight: 1 params { key: "percent_policy" value: "STRICT" } }'),
    sample("e", "1, 2", extra='components { name: "math_accuracy" weight: 1 params { key: "extraction_priority" value: "[LAST_NUMBER]" } }'),
    sample("f", "<think>a</think><answer>b</answer>", ref="",
           extra='components { name: "tag_count" weight: 1 params { key: "require_answer_tag" value: "true" } }'),
    sample("g", "no reference", ref=""),
    sample("h", "unknown", extra='components { name: "no_such" weight: 1 }'),
    sample("i", "bad param", extra='components { name: "math_accuracy" weight: 1 params { key: "gold_format" value: "NOPE" } }'),
    sample("j", "nan weight", extra='components { name: "math_accuracy" weight: nan }'),
    sample("", "empty id"),
    sample("k", "timeout", extra=MATH + " timeout_ms: 4000000000"),
    sample("l", "code", ref='reference { code { style: "mbpp" asserts: "assert f(1) == 1" } }',
           extra='components { name: "code_tests" weight: 1 }'),
    sample("m", "json", ref='reference { json: "{\\"k\\": 1}" }', extra=FORMAT),
    sample("n", "no components", extra=""),
    ' '.join(sample(str(i), "\\boxed{%d}" % i) for i in range(10)),
]
# Invalid UTF-8 in bytes fields, written with text-format escapes.
SEEDS.append('samples { id: "u" completion: "\\303\\050 \\\\boxed{1}" reference { math_answer: "1" } %s }' % MATH)
SEEDS.append('samples { id: "v" completion: "\\300\\257" reference { math_answer: "\\355\\240\\200" } %s }' % MATH)

TEXT_SEEDS = [
    b"The answer is \\boxed{42}.",
    b"<think>hmm</think> 42",
    b"#### 42",
    b"\xff\xfe invalid",
    # Found by the fuzzer: exponent towers that every random point overflows
    # sent GiNaC's expand()/normal() past the time limit (14 s at 12 levels).
    b" #### tTtta^TTT^ #### t^T^T^a^T^T^T^T^T^T^T^T^T*9^9^9^9^t",
    b" #### tTtta^TTT^T^T^a^T^T^T^T^T^T^T^T^T^T 9^9^9^9^t",
]


def write(data):
    path = os.path.join(OUT, hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)


def main():
    os.makedirs(OUT, exist_ok=True)
    with open("data/gsm8k_example_model_solutions.jsonl") as f:
        for _, line in zip(range(12), f):
            row = json.loads(line)
            SEEDS.append(sample("gsm", row["175b_verification"]["solution"],
                                'reference { math_answer: %s }' % json.dumps(row["ground_truth"]),
                                MATH + " " + FORMAT))
    for text in SEEDS:
        data = subprocess.run(
            ["protoc", "--proto_path=proto", "--encode=grpo.reward.v1.ScoreRequest", "reward.proto"],
            input=text.encode(), capture_output=True, check=True).stdout
        write(data)
    for data in TEXT_SEEDS:
        write(data)


if __name__ == "__main__":
    main()
