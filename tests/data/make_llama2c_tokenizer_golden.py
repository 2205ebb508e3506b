#!/usr/bin/env python3
"""Writes tests/data/llama2c_tokenizer_golden.json: token ids of ~20 strings under
data/models/stories260K/tok512.bin, computed by a plain Python port of the `encode`
function of llama2.c's run.c (dummy-prefix space, per-code-point lookup, byte
fallback id = byte + 3, then repeated merging of the best-scoring adjacent pair,
leftmost first among equal scores). No BOS/EOS. Regenerate with:

    python3 tests/data/make_llama2c_tokenizer_golden.py
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOK = os.path.join(ROOT, "data/models/stories260K/tok512.bin")
OUT = os.path.join(ROOT, "tests/data/llama2c_tokenizer_golden.json")


def load(path, vocab_size=512):
    b = open(path, "rb").read()
    off = 4  # max_token_length
    pieces, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", b, off)
        off += 8
        pieces.append(b[off:off + n])
        scores.append(score)
        off += n
    return pieces, scores


def encode(text: bytes, pieces, scores):
    lookup = {}
    for i, p in enumerate(pieces):
        lookup.setdefault(p, i)  # run.c's bsearch over sorted unique strings
    tokens = []
    if text:
        tokens.append(lookup[b" "])
    buf = b""
    for i, c in enumerate(text):
        if (c & 0xC0) != 0x80:
            buf = b""
        buf += bytes([c])
        nxt = text[i + 1] if i + 1 < len(text) else 0
        if (nxt & 0xC0) == 0x80 and len(buf) < 4:
            continue
        if buf in lookup:
            tokens.append(lookup[buf])
        else:
            tokens.extend(x + 3 for x in buf)
        buf = b""
    while True:
        best, best_id, best_idx = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            cat = pieces[tokens[i]] + pieces[tokens[i + 1]]
            j = lookup.get(cat, -1)
            if j != -1 and scores[j] > best:
                best, best_id, best_idx = scores[j], j, i
        if best_idx == -1:
            break
        tokens[best_idx:best_idx + 2] = [best_id]
    return tokens


STRINGS = [
    "",
    "Once upon a time",
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.",
    "Lily's mom said, \"Lily, let's go to the park.\"",
    "hello world",
    " leading space",
    "   three spaces",
    "trailing space ",
    "line one\nline two\n\nend",
    "Tab\tseparated",
    "12345 + 678 = 13023",
    "UPPER lower MiXeD",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9",
    "\u4f60\u597d\uff0c\u4e16\u754c",
    "emoji \U0001F600\U0001F680!",
    "\u2122 trademark and ~tilde~ [brackets]",
    "The big, red ball was too high.",
    "a",
    " ",
    "!!!???...",
    "<s> not special </s>",
    "Tom and Sue went to the shop. They bought a cake!",
]


def main():
    pieces, scores = load(TOK)
    cases = [{"text": s, "ids": encode(s.encode("utf-8"), pieces, scores)} for s in STRINGS]
    # Invalid UTF-8 (a lone continuation byte and a truncated sequence), as hex.
    for raw in [b"ab\x80cd", b"x\xe4\xbd"]:
        cases.append({"hex": raw.hex(), "ids": encode(raw, pieces, scores)})
    with open(OUT, "w") as f:
        json.dump({"source": "data/models/stories260K/tok512.bin",
                   "reference": "Python port of llama2.c run.c encode (no BOS/EOS)",
                   "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
