"""Writes repetition_golden.jsonl: open-r1's n-gram repetition penalty
(open_r1/rewards.py, get_repetition_penalty_reward) on the GSM8K model
solutions in data/, computed in Python exactly as open-r1 does it
(text.lower().split(), overlapping n-grams, (1 - distinct/total) * max_penalty;
0 for an empty text or fewer words than n). tests/builtin_rewards_test.cc
checks the `repetition` component against every line.

    python3 tests/data/make_repetition_golden.py > tests/data/repetition_golden.jsonl

Each line: {"line": index into data/gsm8k_example_model_solutions.jsonl,
"field": "6b" or "175b" (which solution), "ngram_size", "max_penalty", "value"}.
"""
import json
import os

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "data",
                    "gsm8k_example_model_solutions.jsonl")
LINES = 200


def open_r1_repetition(text, ngram_size, max_penalty):
    if text == "" or len(text.split()) < ngram_size:
        return 0.0
    words = text.lower().split()
    ngrams = list(zip(*[words[i:] for i in range(ngram_size)]))
    return (1 - len(set(ngrams)) / len(ngrams)) * max_penalty


with open(DATA) as f:
    for index, raw in enumerate(f):
        if index >= LINES:
            break
        line = json.loads(raw)
        for field, key in (("6b", "6b_finetuning"), ("175b", "175b_verification")):
            text = line[key]["solution"]
            for ngram_size, max_penalty in ((1, -1.0), (2, -1.0), (3, -0.5), (4, -1.0)):
                print(json.dumps({"line": index, "field": field, "ngram_size": ngram_size,
                                  "max_penalty": max_penalty,
                                  "value": open_r1_repetition(text, ngram_size, max_penalty)}))
