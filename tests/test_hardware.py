"""device and precision options (pearl.core.hardware): refused up front where the hardware lacks them,
resolved where it has them, never changing the run key of float32 CPU runs."""

from __future__ import annotations

import pytest
import torch

from baselines.config import make_config as baseline_config
from baselines.trainer import train as baseline_train
from benchmarks.cli import main
from benchmarks.runkey import run_key
from pearl.config import make_config
from pearl.core import hardware
from pearl.core.checkpoint import check_resumable, load_latest
from pearl.trainer import RESUMABLE_CHANGES, train

SMOKE_TRAIN = ["train", "pearl", "point-robot", "--profile", "smoke"]


@pytest.mark.skipif(hardware.cpu_has_bf16(), reason="this CPU has native bf16: nothing to refuse")
def test_bfloat16_on_a_cpu_without_it_is_refused_before_anything_runs(tmp_path, capsys):
    for argv in (SMOKE_TRAIN, ["run", "--profile", "smoke", "--families", "sparse-point-robot", "--dry-run"]):
        assert main(argv + ["--set", "precision=bfloat16", "--results", str(tmp_path / "r")]) == 2
        err = capsys.readouterr().err
        assert f"capability {torch.backends.cpu.get_cpu_capability()}" in err
        assert "precision=float32" in err and "precision=auto" in err
    assert not (tmp_path / "r").exists()


def test_auto_precision_takes_bf16_only_where_the_cpu_has_it(monkeypatch):
    keys = {}
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(hardware, "cpu_has_bf16", lambda native=native: native)
        cfg = make_config("pearl", "point-robot", "smoke", {"precision": "auto"})
        assert cfg.net.precision == expected  # resolved: the run key records what ran
        keys[expected] = run_key(cfg.to_dict())
    float32 = make_config("pearl", "point-robot", "smoke")
    assert keys["float32"] == run_key(float32.to_dict())  # existing float32 runs keep their keys
    assert keys["bfloat16"] != keys["float32"]
    with pytest.raises(ValueError, match=r"unknown precision 'float16'; valid choices: float32, bfloat16, auto"):
        make_config("pearl", "point-robot", "smoke", {"precision": "float16"})


def test_cuda_is_refused_where_there_is_none_and_auto_falls_back_to_cpu(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for argv in (SMOKE_TRAIN, ["train", "promp", "point-robot", "--profile", "smoke"]):
        assert main(argv + ["--set", "device=cuda"]) == 2
        assert "device='cuda' but torch sees no CUDA GPU" in capsys.readouterr().err
    assert hardware.resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match=r"unknown device 'tpu'; valid choices: cpu, cuda, auto"):
        baseline_config("rl2-ppo", "point-robot", "smoke", {"device": "tpu"})


def test_device_is_an_execution_detail_outside_the_run_key():
    for config in (make_config("pearl", "point-robot", "smoke"), baseline_config("promp", "point-robot", "smoke")):
        cpu = config.to_dict()
        older = {k: v for k, v in cpu.items() if k != "device"}  # written before the option existed
        assert run_key({**cpu, "device": "auto"}) == run_key(cpu) == run_key(older)
        check_resumable(older, cpu, RESUMABLE_CHANGES | {"eval_every", "max_env_steps"})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU: the CUDA path is untested here")
def test_short_trainings_on_cuda_and_a_cuda_checkpoint_resumes_on_cpu(tmp_path):
    cfg = make_config("pearl", "point-robot", "smoke", {"device": "cuda"})
    out = train(cfg, checkpoint_dir=tmp_path / "pearl", stop_after=1)
    assert out["iterations_completed"] == 1
    assert load_latest(tmp_path / "pearl")["agent"]["qf.q1.last.weight"].device.type == "cpu"  # map_location
    resumed = train(make_config("pearl", "point-robot", "smoke", {"device": "cpu"}), checkpoint_dir=tmp_path / "pearl")
    assert resumed["finished"] and resumed["resumed_from_iteration"] == 1
    for method in ("promp", "maml-trpo", "rl2-ppo"):
        summary = baseline_train(baseline_config(method, "point-robot", "smoke", {"device": "cuda"}))
        assert summary["finished"] and summary["last_eval"] is not None


def test_set_num_threads_sets_torch_and_numpys_blas_together():
    from threadpoolctl import threadpool_info

    try:
        hardware.set_num_threads(2)
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert blas and set(blas) == {2} and torch.get_num_threads() == 2
        hardware.set_num_threads(1)
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        assert set(blas) == {1} and torch.get_num_threads() == 1
    finally:
        hardware.set_num_threads(1)  # the suite's setting (conftest.py)


FRESH_ACTIVATIONS = """
import ctypes, resource, sys, torch
from pearl.core import hardware
if sys.argv[1] == "reuse":
    applied = hardware.reuse_freed_memory()
else:  # glibc's starting mmap threshold, pinned: left to rise with use, the count depends on history
    applied = None
    ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # -3: M_MMAP_THRESHOLD
rows, cols, keep, warm_up = (int(a) for a in sys.argv[2:])
live = []
def churn(n):  # an update's pattern: activations kept, then all freed
    for _ in range(n):
        live.append(torch.empty(rows, cols).fill_(1.0))
        if len(live) > keep:
            live.clear()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn(warm_up * (keep + 1))  # the heap grows to its working size
before = faults()
churn(3 * (keep + 1))
print(applied, (faults() - before) / (3 * (keep + 1)))
"""


@pytest.mark.skipif(not hardware.reuse_freed_memory(), reason="not glibc on Linux: the allocator is left alone")
@pytest.mark.parametrize(
    "rows, cols, keep, warm_up",
    [(4096, 300, 30, 2), (12000, 1000, 3, 4)],  # PEARL's 4.9 MB activations; 48 MB, above glibc's mmap threshold
    ids=["4.9MB", "48MB"],
)
def test_reuse_freed_memory_stops_fresh_activations_faulting_in_again(rows, cols, keep, warm_up):
    """Without it, glibc hands freed activations back to the kernel and faults the next ones in
    again (every page: ~1,200 faults per 4.9 MB tensor, ~11,700 per 48 MB one, a block above 32 MiB
    always being its own mmap); with it, freed blocks are reused (the trainers call it at start).
    Without it is glibc at its starting mmap threshold (128 KiB), pinned: glibc raises it with use,
    so an unpinned count depends on what the process freed before (it came out 13 instead of ~400
    one time in six). Counted from the third round (4.9 MB) or the fifth (48 MB), once the heap has
    grown to its working size."""
    import subprocess
    import sys

    faults = {}
    for mode in ("default", "reuse"):
        out = subprocess.run(
            [sys.executable, "-c", FRESH_ACTIVATIONS, mode, str(rows), str(cols), str(keep), str(warm_up)],
            capture_output=True,
            text=True,
            check=True,
        )
        applied, per_tensor = out.stdout.split()
        faults[mode] = float(per_tensor)
        assert applied == ("True" if mode == "reuse" else "None")
    assert faults["default"] > 200, faults
    assert faults["reuse"] < 50, faults
