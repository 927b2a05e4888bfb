"""PEARL throughput: gradient steps/s and meta-training env steps/s, and where the time goes.

    python -m benchmarks.pearl_speed [--family cheetah-vel] [--method pearl] [--profile paper]
                                     [--grad-steps 20] [--threads 1] [--set KEY=VALUE ...] [--json FILE]

It builds the real trainer for the given config, fills the buffers with the initial pool,
then times (1) ``--grad-steps`` gradient steps of Algorithm 1 (batch sampling + one SAC/encoder
update over the meta-batch), split into batch sampling and the update (losses, backward and
optimiser steps together; ``--profile-ops`` breaks the update down by operator); (2) one
collection round of the config (prior + posterior + extra-RL episodes for ``num_tasks_sample``
tasks, lockstep, one policy forward per step); (3) one meta-test evaluation.

Against the machine's ceiling: in the same process it counts the step's matrix-multiplication
FLOPs (``torch.utils.flop_counter.FlopCounterMode``), records every matrix multiplication of one
update (op, operand shapes, strides, dtypes) and times each kind on warm random operands, best of
3 in a row. Their sum is what the update would take if it were nothing but GEMMs at this machine's
best rate, so ``GEMM fraction = GEMM time / update time`` = achieved FLOP/s / the machine's GEMM
FLOP/s at the update's shapes. Update and GEMM timings alternate, so both see the same load.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from typing import NamedTuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from pearl.core.configs import PROFILES

GEMM_OPS = {
    torch.ops.aten.mm.default,
    torch.ops.aten.addmm.default,
    torch.ops.aten.bmm.default,
    torch.ops.aten.baddbmm.default,
}


class Operand(NamedTuple):
    shape: torch.Size
    stride: tuple[int, ...]
    dtype: torch.dtype
    device: torch.device


class GemmRecorder(TorchDispatchMode):
    """Records the matrix multiplications dispatched inside it (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in GEMM_OPS:
            self.calls.append(
                (
                    func,
                    [
                        Operand(a.shape, a.stride(), a.dtype, a.device) if isinstance(a, torch.Tensor) else a
                        for a in args
                    ],
                    kwargs,
                )
            )
        return func(*args, **kwargs)


def matmul_flops(calls: list[tuple]) -> int:
    """2 m k n per matrix product (times the batch for bmm), from the recorded operand shapes."""
    total = 0
    for _, args, _ in calls:
        a, b = [x for x in args if isinstance(x, Operand)][-2:]
        total += 2 * math.prod(a.shape) * b.shape[-1]
    return total


def gemm_replay(calls: list[tuple], repeats: int = 3):
    """A function returning the seconds the matrix multiplications in ``calls`` take at this machine's
    best rate: each distinct (op, operand shapes, strides, dtypes) runs ``repeats`` times in a row on
    warm random operands, its fastest time counts once per call of that kind."""
    kinds: dict[tuple, list] = {}
    for func, args, kwargs in calls:
        key = (func, tuple(args), tuple(sorted(kwargs.items())))
        if key not in kinds:
            operands = [
                torch.empty_strided(a.shape, a.stride, dtype=a.dtype, device=a.device).normal_()
                if isinstance(a, Operand)
                else a
                for a in args
            ]
            kinds[key] = [lambda func=func, operands=operands, kwargs=kwargs: func(*operands, **kwargs), 0]
        kinds[key][1] += 1

    def run() -> float:
        return sum(count * min(seconds(fn) for _ in range(repeats)) for fn, count in kinds.values())

    return run


def synchronize() -> None:
    """Wait for queued GPU work, so wall-clock timings of CUDA code are honest (no-op without CUDA)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def seconds(fn) -> float:
    synchronize()
    t0 = time.perf_counter()
    fn()
    synchronize()
    return time.perf_counter() - t0


def gemm_fraction(trainer, batches: list, repeats: int) -> dict:
    """Step time vs the same step's GEMMs alone, interleaved so both see the same machine load."""
    learner = trainer.learner
    with FlopCounterMode(display=False) as counter, GemmRecorder() as recorder:
        learner.update(batches[0])
    flops = counter.get_total_flops()
    replay = gemm_replay(recorder.calls)
    update_times, gemm_times = [], []
    for i in range(repeats):
        batch = batches[i % len(batches)]
        update_times.append(seconds(lambda: learner.update(batch)))
        gemm_times.append(replay())
    update_s, gemm_s = statistics.median(update_times), statistics.median(gemm_times)
    return {
        "gflop_per_step": flops / 1e9,
        "gemm_calls_per_step": len(recorder.calls),
        "recorded_gemm_gflop": matmul_flops(recorder.calls) / 1e9,
        "update_ms": 1e3 * update_s,
        "gemm_only_ms": 1e3 * gemm_s,
        "achieved_gflops": flops / update_s / 1e9,
        "gemm_gflops": flops / gemm_s / 1e9,
        "gemm_fraction": gemm_s / update_s,
    }


def measure(method: str, family: str, profile: str, overrides: dict, grad_steps: int, threads: int) -> dict:
    from pearl.config import make_config
    from pearl.trainer import PEARLTrainer

    cfg = make_config(method, family, profile, {"num_threads": threads, **overrides})
    trainer = PEARLTrainer(cfg)
    a = cfg.algo
    rng = trainer.rng

    start = time.perf_counter()
    initial = trainer.collector.collect_initial(min(a.num_initial_steps, 4 * trainer.horizon), rng)
    initial_s = time.perf_counter() - start

    sample_s = update_s = 0.0
    trainer.sampler.sample(rng.integers(0, len(trainer.train_tasks), a.meta_batch), rng)  # warm-up
    trainer.learner.update(trainer.sampler.sample(rng.integers(0, len(trainer.train_tasks), a.meta_batch), rng))
    for _ in range(grad_steps):
        synchronize()
        t0 = time.perf_counter()
        batch = trainer.sampler.sample(rng.integers(0, len(trainer.train_tasks), a.meta_batch), rng)
        t1 = time.perf_counter()
        trainer.learner.update(batch)
        synchronize()
        t2 = time.perf_counter()
        sample_s += t1 - t0
        update_s += t2 - t1

    batches = [
        trainer.sampler.sample(rng.integers(0, len(trainer.train_tasks), a.meta_batch), rng)
        for _ in range(min(grad_steps, 4))
    ]
    gemm = gemm_fraction(trainer, batches, grad_steps)

    task_ids = rng.integers(0, len(trainer.train_tasks), size=a.num_tasks_sample)
    t0 = time.perf_counter()
    collected = trainer.collector.collect_round(
        task_ids, a.num_steps_prior, a.num_steps_posterior, a.num_extra_rl_steps_posterior, rng
    )
    collect_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    result = trainer.evaluate()
    eval_s = time.perf_counter() - t0
    trainer.close()

    per_iteration_s = (sample_s + update_s) / grad_steps * a.num_train_steps_per_itr + collect_s
    return {
        "method": method,
        "family": family,
        "profile": profile,
        "threads": threads,
        "net_size": cfg.net.net_size,
        "meta_batch": a.meta_batch,
        "batch_size": a.batch_size,
        "grad_steps_per_s": grad_steps / (sample_s + update_s),
        "grad_step_ms": {"sample_batch": 1e3 * sample_s / grad_steps, "update": 1e3 * update_s / grad_steps},
        "precision": cfg.net.precision,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "device": str(trainer.learner.device),
        "device_name": _device_name(trainer.learner.device),
        "torch": torch.__version__,
        "gemm": gemm,
        "collect_env_steps_per_s": collected / collect_s,
        "initial_env_steps_per_s": initial / initial_s,
        "eval_env_steps_per_s": result.num_steps / eval_s,
        "iteration_s_estimate": per_iteration_s,
        "train_env_steps_per_s_estimate": collected / per_iteration_s,
    }


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.backends.cpu.get_cpu_capability()})"


def profile_update(method: str, family: str, profile: str, overrides: dict, threads: int, steps: int = 5) -> str:
    """torch.profiler table of a few gradient steps (top operators by self CPU time)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    from pearl.config import make_config
    from pearl.trainer import PEARLTrainer

    cfg = make_config(method, family, profile, {"num_threads": threads, **overrides})
    trainer = PEARLTrainer(cfg)
    rng = trainer.rng
    trainer.collector.collect_initial(min(cfg.algo.num_initial_steps, 4 * trainer.horizon), rng)
    batches = [
        trainer.sampler.sample(rng.integers(0, len(trainer.train_tasks), cfg.algo.meta_batch), rng)
        for _ in range(steps + 1)
    ]
    trainer.learner.update(batches[0])
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[1:]:
            trainer.learner.update(batch)
    trainer.close()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12)


def main(argv: list[str] | None = None) -> dict:
    from benchmarks.cli import parse_overrides

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--family", default="cheetah-vel")
    parser.add_argument("--method", default="pearl")
    parser.add_argument("--profile", default="paper", choices=PROFILES)
    parser.add_argument("--grad-steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default: 1)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--profile-ops", action="store_true", help="also print a torch.profiler operator table")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    overrides = parse_overrides(args.set)

    r = measure(args.method, args.family, args.profile, overrides, args.grad_steps, args.threads)
    print(
        f"{r['method']} on {r['family']} ({r['profile']}; nets {r['net_size']} wide, meta-batch "
        f"{r['meta_batch']} x {r['batch_size']}, {r['threads']} thread(s), learner on {r['device_name']})"
    )
    print(
        f"  gradient steps/s            {r['grad_steps_per_s']:8.2f}   "
        f"(batch sampling {r['grad_step_ms']['sample_batch']:.1f} ms + update {r['grad_step_ms']['update']:.1f} ms)"
    )
    g = r["gemm"]
    print(
        f"  GEMM fraction               {100 * g['gemm_fraction']:8.1f} % of this machine's GEMM rate at the "
        f"update's shapes: {g['gflop_per_step']:.1f} GFLOP per update ({g['gemm_calls_per_step']} matmuls) in "
        f"{g['update_ms']:.0f} ms = {g['achieved_gflops']:.1f} GFLOP/s; the same matmuls alone "
        f"{g['gemm_only_ms']:.0f} ms = {g['gemm_gflops']:.1f} GFLOP/s (medians of {args.grad_steps}, "
        f"{r['precision']}, {r['device_name']})"
    )
    print(f"  collection env steps/s      {r['collect_env_steps_per_s']:8.0f}   (policy in the loop, lockstep)")
    print(f"  evaluation env steps/s      {r['eval_env_steps_per_s']:8.0f}")
    print(
        f"  one iteration (estimate)    {r['iteration_s_estimate']:8.1f} s  -> "
        f"{r['train_env_steps_per_s_estimate']:.1f} meta-training env steps/s overall"
    )
    if args.profile_ops:
        print(profile_update(args.method, args.family, args.profile, overrides, args.threads))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=1)
    return r


if __name__ == "__main__":
    main()
