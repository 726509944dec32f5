#!/usr/bin/env bash
# What only a GPU can show, in one command (about 5 minutes on one GPU; two for the FSDP test). No GPU is lent to this
# project's sessions at present; the day one is, run this and paste its table into the README.
#   bash bench/gpu_check.sh            # from the repository root, after `make install` on the GPU machine
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
[ "$GPUS" -ge 1 ] || { echo "gpu_check: no CUDA GPU visible"; exit 2; }
declare -a ROWS
check() {  # check NAME COMMAND...: run it, keep its last line, record pass/fail and seconds
  local name=$1; shift
  local t0=$SECONDS
  local out; out=$("$@" 2>&1); local rc=$?
  ROWS+=("| $name | $([ $rc -eq 0 ] && echo pass || echo "FAIL ($rc)") | $((SECONDS - t0)) s | $(echo "$out" | tail -n 1 | cut -c1-100) |")
}
export LLAVA_NB_TEST_DEVICE=cuda OMP_NUM_THREADS=4
if [ "$GPUS" -ge 2 ]; then
  check "FSDP kill -9 + resume, 2 GPUs" $PY -m pytest -q tests/test_multiprocess.py -k fsdp_kill
else
  ROWS+=("| FSDP kill -9 + resume | skipped | | needs 2 GPUs |")
fi
if [ "$GPUS" -ge 2 ] && $PY -c "import deepspeed" 2>/dev/null; then
  check "DeepSpeed ZeRO-2/3 kill -9 + resume, 2 GPUs" $PY -m pytest -q tests/test_multiprocess.py -k deepspeed_kill
else
  ROWS+=("| DeepSpeed kill -9 + resume | skipped | | needs 2 GPUs and deepspeed |")
fi
check "fp16 overflow skip, one process" $PY -m pytest -q tests/test_train.py -k fp16
check "QLoRA / LoRA (bitsandbytes)" $PY -m pytest -q tests/test_lora.py
check "training throughput vs transformers" $PY bench/train_throughput_gpu.py --steps 10
check "MFU: peak, stages, generation (bench/results/mfu.json)" $PY bench/mfu_report.py --device cuda --steps 30
echo "| check | result | time | last line |"
echo "|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
