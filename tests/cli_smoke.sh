#!/bin/sh
# Smoke tests of the real `grpo` binary, run by CTest.
#   cli_smoke.sh CHECK GRPO DATA_DIR WORK_DIR
set -eu
check=$1 grpo=$2 data=$3 work=$4
mkdir -p "$work"

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

case "$check" in
  gsm8k-self)
    # The gold solutions scored against themselves: every line must be correct.
    in="$data/gsm8k_test.jsonl"
    out="$work/gsm8k_self.jsonl"
    summary="$work/gsm8k_self.summary.json"
    "$grpo" eval-rewards --checker=math --preset=gsm8k --input="$in" \
      --completion-field=answer --output="$out" --summary="$summary" 2>"$work/gsm8k_self.log" ||
      fail "exit $?: $(cat "$work/gsm8k_self.log")"
    cat "$work/gsm8k_self.log"
    [ "$(wc -l <"$in")" -eq "$(wc -l <"$out")" ] || fail "output and input line counts differ"
    grep -q '"accuracy":1.0,' "$summary" || fail "accuracy is not 1: $(cat "$summary")"
    grep -q 'accuracy    1.0000 (mean reward; 100.00%)' "$work/gsm8k_self.log" ||
      fail "the stderr summary does not say accuracy 1"
    [ ! -e "$out.tmp" ] || fail "left $out.tmp behind"
    ;;
  sample-golden)
    # The README's `grpo sample` example: greedy from BOS prints the golden
    # story (tests/data/stories260K_greedy200.txt is golden.json's text).
    "$grpo" sample --model="$data/models/stories260K" --temperature=0 --max-new-tokens=200 \
      >"$work/story.txt" 2>"$work/story.log" || fail "exit $?: $(cat "$work/story.log")"
    cmp "$work/story.txt" "$data/../tests/data/stories260K_greedy200.txt" ||
      fail "the story differs from the golden text: $(cat "$work/story.txt")"
    # Bad input: a missing model and a bad flag value are clear errors.
    set +e
    "$grpo" sample --model="$work/absent" 2>"$work/err.log"
    [ $? -eq 1 ] || fail "missing model: want exit 1"
    grep -q 'absent' "$work/err.log" || fail "missing model not named: $(cat "$work/err.log")"
    "$grpo" sample --model="$data/models/stories260K" --top-p=2 2>"$work/err.log"
    [ $? -eq 2 ] || fail "--top-p=2: want exit 2"
    "$grpo" sample --model="$data/models/stories260K" --chat 2>"$work/err.log"
    [ $? -eq 2 ] || fail "--chat without a chat vocabulary: want exit 2"
    grep -q 'im_start' "$work/err.log" || fail "--chat error unclear: $(cat "$work/err.log")"
    set -e
    ;;
  train-short)
    # The main job's command, shortened: the shipped config with a few steps
    # writes the resolved config, metrics and the summary.
    "$grpo" train --config="$data/../configs/mini_r1.textproto" --set train.output_dir="$work/runs" \
      --set train.sft.steps=4 --set train.grpo.steps=2 --set train.arithmetic.heldout_problems=10 \
      >"$work/train.out" 2>"$work/train.log" || fail "exit $?: $(cat "$work/train.log")"
    grep -q '^accuracy_after ' "$work/train.out" || fail "no accuracy_after: $(cat "$work/train.out")"
    for f in config.textproto metrics.jsonl samples.jsonl summary.json model/model.safetensors; do
      [ -s "$work/runs/mini_r1/$f" ] || fail "runs/mini_r1/$f missing"
    done
    [ "$(wc -l <"$work/runs/mini_r1/metrics.jsonl")" -eq 2 ] || fail "want 2 metrics lines"
    grep -q '"accuracy_before"' "$work/runs/mini_r1/summary.json" || fail "summary lacks accuracy_before"
    # A misspelled key names file:line:column and exits 2.
    printf 'train { sedd: 3 }\n' >"$work/bad.textproto"
    set +e
    "$grpo" train --config="$work/bad.textproto" 2>"$work/err.log"
    [ $? -eq 2 ] || fail "bad config: want exit 2"
    grep -q 'bad.textproto:1:' "$work/err.log" || fail "bad config not located: $(cat "$work/err.log")"
    set -e
    ;;
  errors)
    # Usage errors exit 2, run failures 1, each with a message.
    set +e
    "$grpo" eval-rewards --inptu=x 2>"$work/err.log"
    [ $? -eq 2 ] || fail "unknown flag: want exit 2"
    grep -q 'did you mean --input' "$work/err.log" || fail "no hint: $(cat "$work/err.log")"
    "$grpo" eval-rewards --input="$work/absent.jsonl" 2>"$work/err.log"
    [ $? -eq 1 ] || fail "missing input: want exit 1"
    grep -q 'absent.jsonl' "$work/err.log" || fail "missing input not named"
    "$grpo" no-such-command 2>/dev/null
    [ $? -eq 2 ] || fail "unknown command: want exit 2"
    # A malformed line is reported but the run completes, stdout output.
    printf '{"completion": "\\\\boxed{1}", "answer": "1"}\nnot json\n' >"$work/two.jsonl"
    "$grpo" eval-rewards --input="$work/two.jsonl" >"$work/two.out" 2>"$work/err.log"
    [ $? -eq 0 ] || fail "a malformed line must not fail the run"
    grep -q "two.jsonl:2: " "$work/err.log" || fail "malformed line not reported"
    [ "$(wc -l <"$work/two.out")" -eq 2 ] || fail "want 2 output lines"
    ;;
  code-humaneval | code-mbpp)
    # The reference solutions through the code checker: every line passes.
    # Exit 77 (CTest's skip) when this machine cannot build the sandbox.
    dataset=${check#code-}
    case "$dataset" in
      humaneval) field=canonical_solution ;;
      mbpp) field=code ;;
    esac
    in="$data/$dataset.jsonl"
    out="$work/code_$dataset.jsonl"
    summary="$work/code_$dataset.summary.json"
    # Generous limits: MBPP task 123 needs about 3 s of CPU on a loaded machine.
    if ! "$grpo" eval-rewards --checker=code --preset="$dataset" --input="$in" \
      --completion-field="$field" --output="$out" --summary="$summary" \
      --set reward.code.cpu_seconds=30 --set reward.code.wall_seconds=120 \
      2>"$work/code_$dataset.log"; then
      if grep -q "user namespaces" "$work/code_$dataset.log"; then
        echo "SKIP: no sandbox here: $(cat "$work/code_$dataset.log")"
        exit 77
      fi
      fail "exit: $(cat "$work/code_$dataset.log")"
    fi
    cat "$work/code_$dataset.log"
    [ "$(wc -l <"$in")" -eq "$(wc -l <"$out")" ] || fail "output and input line counts differ"
    grep -q '"accuracy":1.0,' "$summary" || fail "accuracy is not 1: $(cat "$summary")"
    [ "$(grep -c '"verdict":"pass"' "$out")" -eq "$(wc -l <"$in")" ] || fail "not every verdict is pass"
    ;;
  *)
    fail "unknown check $check"
    ;;
esac
echo "PASS: $check"
