#!/usr/bin/env python3
"""A reward written in Python, served over gRPC to `grpo reward-server`.

Any server implementing grpo.reward.v1.RewardService (proto/reward.proto)
can score a named component; the C++ server forwards samples to it with
    grpo reward-server --remote-reward=keyword_match=127.0.0.1:50061
The reward here is a plain Python function, like a TRL reward function:
write yours, add it to REWARDS, and list its params.

Stubs (once, from the repository root; see README.md here):
    python3 -m pip install grpcio grpcio-tools
    python3 -m grpc_tools.protoc -I proto --python_out=examples/python_reward/gen \
        --grpc_python_out=examples/python_reward/gen proto/reward.proto
Run:
    python3 examples/python_reward/reward_server.py --port=50061
"""
import argparse
import json
import os
import sys
from concurrent import futures

import grpc

sys.path.insert(0, os.environ.get("GRPO_REWARD_STUBS",
                                  os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen")))
import reward_pb2  # noqa: E402  (generated)
import reward_pb2_grpc  # noqa: E402  (generated)


def keyword_match(completion, reference, params):
    """The share of reference["keywords"] (a JSON list) found in the completion.

    Returns (value, status, reason); status is one of ok, no_answer,
    unparseable_gold, timeout, error.
    """
    try:
        keywords = json.loads(reference)["keywords"]
    except (ValueError, KeyError, TypeError):
        return 0.0, "unparseable_gold", 'reference.json must be {"keywords": [...]}'
    if not keywords:
        return 0.0, "unparseable_gold", "no keywords"
    text = completion if params["case_sensitive"] == "true" else completion.lower()
    found = [k for k in keywords
             if (k if params["case_sensitive"] == "true" else k.lower()) in text]
    return len(found) / len(keywords), "ok", f"{len(found)} of {len(keywords)} keywords"


# name -> (function, version, description, reference kind, {param: (type, default)})
REWARDS = {
    "keyword_match": (keyword_match, "1", "share of the reference's keywords in the completion",
                      "json", {"case_sensitive": ("bool", "false")}),
}


def score_sample(sample):
    result = reward_pb2.Result(id=sample.id, status="ok")
    if sample.reference.WhichOneof("kind") == "math_answer":
        reference = sample.reference.math_answer.decode("utf-8")
    else:
        reference = sample.reference.json.decode("utf-8")
    for component in sample.components:
        name = component.name.decode("utf-8")
        if name not in REWARDS:
            return reward_pb2.Result(id=sample.id, status="invalid_argument",
                                     reason=f"unknown reward component {name!r}".encode())
        fn, _, _, _, declared = REWARDS[name]
        params = {k: default for k, (_, default) in declared.items()}
        for key, value in component.params.items():
            if key not in declared:
                return reward_pb2.Result(id=sample.id, status="invalid_argument",
                                         reason=f"{name}: unknown param {key!r}".encode())
            params[key] = value.decode("utf-8")
        try:
            value, status, reason = fn(sample.completion.decode("utf-8"), reference, params)
        except Exception as e:  # one bad sample must not fail the batch
            value, status, reason = 0.0, "error", f"{type(e).__name__}: {e}"
        value = value if status == "ok" else 0.0
        result.components.add(name=component.name, weight=component.weight, value=value,
                              status=status, reason=reason.encode())
        result.reward += component.weight * value
    return result


class RewardService(reward_pb2_grpc.RewardServiceServicer):
    def Score(self, request, context):
        return reward_pb2.ScoreResponse(results=[score_sample(s) for s in request.samples])

    def ScoreStream(self, request_iterator, context):
        for sample in request_iterator:
            yield score_sample(sample)

    def ListRewards(self, request, context):
        response = reward_pb2.ListRewardsResponse()
        for name, (_, version, description, reference, declared) in REWARDS.items():
            info = response.components.add(name=name, version=version, description=description,
                                           reference=reference)
            for key, (type_, default) in declared.items():
                info.params.add(name=key, type=type_, default_value=default)
        return response


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=50061, help="0 picks a free one")
    parser.add_argument("--port-file", help="write the port here once serving")
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    reward_pb2_grpc.add_RewardServiceServicer_to_server(RewardService(), server)
    port = server.add_insecure_port(f"{args.host}:{args.port}")
    server.start()
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.rename(args.port_file + ".tmp", args.port_file)
    print(f"python reward server on {args.host}:{port}: {', '.join(REWARDS)}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
