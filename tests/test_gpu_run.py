"""training/gpu_run.sh: time-boxed runs, exported weights and packed logs (here on the CPU)."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import core
from core.checkpoint import checkpoint_info

ROOT = Path(__file__).resolve().parent.parent


def test_time_boxed_run_is_exported_with_its_logs_after_the_asked_benchmark(tmp_path, photos):
    config = tmp_path / "boxed.yaml"
    config.write_text(
        f"name: boxed\nmodel: vlunet-tiny\nmodel_overrides: {{dim: 8, num_blocks: [1, 1, 1, 1], num_refinement_blocks: 1}}\n"
        f"guidance: uniform\nphotos: {photos}\npatch_size: 32\nbatch_size: 2\nval_crop: 32\nthreads: 1\n"
        f"warmup_steps: 4\nsteps: 400\ncheckpoint_minutes: 0\nval_every: 1000\ncurves_html: false\nout_dir: {tmp_path / 'runs'}\n")
    out = tmp_path / "out"
    bench = f"--models vlunet-tiny --batch 2 --patch 32 --steps 1 --photos {photos}"
    env = {**os.environ, "PYTHON": sys.executable, "WHEELS": str(tmp_path / "no-wheels"), "GRACE_S": "60", "BENCH": bench}
    done = subprocess.run(["bash", "training/gpu_run.sh", "0.1", str(out), str(config)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    info = checkpoint_info(out / "boxed.safetensors")
    assert info["steps"] == info["train_config"]["steps"] < 400          # the budget fixed the step count
    assert core.load_model(out / "boxed.safetensors").config.dim == 8
    with tarfile.open(out / "logs.tar.gz") as tar:
        names = set(tar.getnames())
        bench_table = tar.extractfile("logs/bench.txt").read().decode()
    assert {"logs/machine.txt", "logs/boxed.out", "logs/boxed.csv"} <= names
    assert "| vlunet-tiny | 2,042,177 | 2 | none |" in bench_table and "| vlunet-tiny |" in done.stdout  # BENCH ran first
    assert sorted(p.name for p in out.iterdir()) == ["boxed.safetensors", "logs.tar.gz"]


def test_wrong_usage_is_one_line(tmp_path):
    done = subprocess.run(["bash", "training/gpu_run.sh", "1"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().startswith("usage:") and "\n" not in done.stderr.strip()
