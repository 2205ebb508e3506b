#!/usr/bin/env python3
"""Writes the seed corpus of math_fuzz into tests/fuzz/corpus/ (run from the repo root).

Seeds are COMPLETION \\0 GOLD [\\0 OPTIONS] (see math_fuzz.cc): real answers
from data/ (MATH-500 golds in a boxed sentence, tails of Qwen2.5-Math
responses, GSM8K gold fields with a model's "A:" line), and hostile inputs
aimed at the parser's and the CAS's limits. File names are the seed's sha1,
as libFuzzer names its own, so re-running the script is idempotent.
"""
import hashlib
import json
import os

DATA = "data"
OUT = "tests/fuzz/corpus"


def rows(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def seed(completion, gold=None, options=None):
    b = completion.encode("utf-8", "surrogateescape") if isinstance(completion, str) else completion
    if gold is not None:
        b += b"\0" + (gold.encode() if isinstance(gold, str) else gold)
        if options is not None:
            b += b"\0" + bytes(options)
    return b


def main():
    seeds = []
    # MATH-500: every 6th gold with LaTeX in it, boxed in a short sentence.
    math500 = [r["answer"] for r in rows("math500_test.jsonl")]
    latexy = [a for a in math500 if any(c in a for c in "\\,({[^%_")]
    for a in latexy[::6]:
        seeds.append(seed(f"So the final answer is $\\boxed{{{a}}}$.", a))
    # Qwen2.5-Math: the last 300 bytes of one response in every 10th problem,
    # plus the policy cases (time of day, {,}, percent).
    qwen = rows("qwen25math_math_cot_100.jsonl")
    for r in qwen[::10]:
        seeds.append(seed(r["response"][0][-300:], r["answer"]))
    policy = [r for r in qwen if any(s in r["answer"] for s in ("p.m.", "{,}", "\\%"))]
    for r in policy[:6]:
        seeds.append(seed(r["response"][0][-300:], r["answer"]))
    # GSM8K: the gold field after "####", a model's "A:" answer and the other sources.
    gsm = rows("gsm8k_test.jsonl")
    for i, r in enumerate(gsm[:6]):
        n = r["answer"].split("####")[-1].strip()
        tails = [f"... so she makes {n} dollars.\nA: {n}", f"<answer>{n}</answer>",
                 f"#### {n}", f"The answer is {n}.", f"\\[ {n} \\]", f"total is {n}"]
        seeds.append(seed(tails[i], r["answer"][-200:], [i]))

    hostile = [
        "\\boxed{" * 80,                       # unclosed, deep
        "}" * 50 + "\\boxed{1}}}}",
        "\\boxed{" + "{" * 100 + "1" + "}" * 100 + "}",
        "\\frac{" * 70 + "1" + "}{2}" * 70,
        "(" * 200 + "1" + ")" * 200,
        "[(" * 40 + "1,2" + ")]" * 40,
        "x^{" * 64 + "2" + "}" * 64,
        "2^{2^{2^{2^{2^{2^{2}}}}}}",
        "10^{10^{10^{10}}}",
        "9^{99999999999999999999}",
        "(-1)^{10^{100}+1/3}",
        "1e999999999",
        "0." + "3" * 3000,
        "99999999999999999999999999999999999!",
        "1000!!",
        "\\binom{100000}{50000}",
        "\\sqrt[1000000]{2}",
        "\\sqrt[0]{0}",
        "\\frac{1}{0}",
        "0^{-1}",
        "\\log_1 1",
        "\\ln(0)",
        "\\infty - \\infty",
        "e^{i\\pi}+1",
        "\\sin^{-1}(2)",
        "\\sqrt{-1}",
        "1 \\pm \\pm \\pm 2",
        "\\%\\%\\%",
        "50\\%\\%",
        "\\begin{pmatrix} 1 & 2 \\\\ 3",
        "\\begin{pmatrix}",
        "\\end{pmatrix}",
        "\\begin{pmatrix} & & \\\\ \\\\ & \\end{pmatrix}",
        "\\begin{bmatrix}" * 30,
        "\\begin{pmatrix} \\begin{pmatrix} 1 \\end{pmatrix} \\end{pmatrix}",
        "\\left( \\right]",
        "\\left\\{ 1, 2 \\right.",
        "\\{\\{\\{\\}\\}\\}",
        "(1,2) \\cup [3, \\infty) \\cup \\emptyset \\cup",
        "x = y = z = 1 < 2 \\le 3 \\neq 4",
        "= = =",
        "\\text{\\text{\\text{a}}}",
        "\\text{" * 40,
        "\\mbox{}\\mathrm{}\\operatorname{}",
        "$$$$$$$$",
        "\\(\\[\\]\\)",
        "<answer><answer></answer>",
        "####",
        "#### #### ####",
        "Answer:" * 50,
        "The final answer is",
        "\\boxed",
        "\\boxed 5",
        "\\fbox{\\boxed{\\fbox{2}}}",
        "1,2,3," * 100,
        "1{,}000{,}000{,}",
        "\\$\\$\\$",
        "^^^^__^_^",
        "\\\\\\\\\\\\",
        "a_{b_{c_{d_{e}}}}",
        "\\frac12\\frac34\\frac",
        "\\dfrac{\\tfrac{1}{2}}{\\cfrac{3}{4}}",
        "\\operatorname{lcm}(0,0)",
        "\\lfloor -\\infty \\rfloor",
        "|||x|||",
        "x^{1/2} - \\sqrt{x}",
        "(x+1)^{100} - (x+1)^{100}",
        "\\sin(x)^2 + \\cos(x)^2",
        "(a+b+c+d+e+f+g+h)^{30}",
        "0.\\overline{3}",
        "4:30 \\text{ p.m.}",
        "(A)",
        "\\text{(E)}",
    ]
    for i, h in enumerate(hostile):
        seeds.append(seed(h))  # the input is both sides
        if i % 3 == 0:  # boxed against a number, under non-default options
            seeds.append(seed(f"so $\\boxed{{{h}}}$", "1", [0x35 + i, 3, 7, 0]))
    # Regressions found by fuzzing: a set whose content fails to parse and a
    # subscript with no argument (null dereferences); 0^{-1} and 1/(x-x)
    # reaching GiNaC (leaked when it throws); a symbolic binomial that the
    # CAS expands with the numeric check off (minutes past the time limit).
    seeds += [b"\\{)\\}", b"\\{\\{\x7f\\}\\}\\}", b"x_-", seed("s_-fr^}$", "1", b"n\x03\x07"),
              seed("0^{-1}", "1"), seed("\\frac{1}{x-x}", "1"),
              seed("\\binom{v}{50000}", "1", [0, 0]),
              # Found by the rule tests: more parse errors inside sets and
              # subscripts, a malformed exponent literal, and CAS expansions
              # that ran for seconds (symbolic binomials, huge symbolic powers),
              # plus logarithms and trig functions at their poles.
              b"\\{\\foo\\}", b"x_-\\foo", seed("\\frac1e5", "1"),
              seed("\\binom{n}{1500}", "n"), seed("(x+y+1)^{z+15000}", "x"),
              seed("\\log 0", "1"), seed("\\tan(x-x+\\frac{\\pi}{2})", "1"),
              seed("\\frac{x}{0}", "x")]
    # Bytes that are not UTF-8, and NULs in odd places.
    seeds += [b"\\boxed{\xff\xfe}\x00\xc3\x28", b"\xe2\x82\x00\x00\x00", b"\x00\x00\x00",
              b"\\frac{\xf0\x9f\x98}{1}\x001", seed("\\boxed{\u00bd}", "1/2"),
              seed("\\boxed{\u03c0/2}", "\\frac{\\pi}{2}"), seed("\\boxed{2\u00b7\u221a3}", "2\\sqrt3")]

    os.makedirs(OUT, exist_ok=True)
    for b in seeds:
        with open(os.path.join(OUT, hashlib.sha1(b).hexdigest()), "wb") as f:
            f.write(b)
    print(f"{len(set(seeds))} seeds, {sum(len(b) for b in set(seeds))} bytes in {OUT}")


if __name__ == "__main__":
    main()
