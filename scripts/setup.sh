#!/usr/bin/env bash
# One-command set-up for Debian 12 / Ubuntu: installs every system package
# grpo.cpp needs (only what is missing), then configures and builds a Release
# tree in build/ with CMake and Ninja. Safe to run again: with everything in
# place it only runs the incremental build.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git
  # LibTorch, with the OpenMP OpenBLAS it needs to be fast, and Gloo for c10d.
  libtorch-dev libopenblas0-openmp libgloo-dev
  # RPC, configs and errors.
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # Math checker: GiNaC (CAS) and GMP (exact rationals).
  libginac-dev libgmp-dev
  nlohmann-json3-dev
  # Tokenizers: PCRE2 (Unicode regex pre-tokenizers) and utf8proc (NFC).
  libpcre2-dev libutf8proc-dev
  # Tests and benchmarks.
  libgtest-dev libgmock-dev libbenchmark-dev
  # The code sandbox: seccomp filters (reward/sandbox_seccomp.cc), and the
  # embedded interpreter of its Python zygote (reward/sandbox_zygote_main.cc).
  libseccomp-dev python3-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"${jobs}"
