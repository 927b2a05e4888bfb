"""benchmarks.pearl_speed: the update's fraction of the machine's GEMM rate counts every matmul of the update."""

from __future__ import annotations

from benchmarks.pearl_speed import gemm_fraction
from pearl.config import make_config
from pearl.trainer import PEARLTrainer


def test_gemm_fraction_replays_exactly_the_updates_matmuls():
    trainer = PEARLTrainer(make_config("pearl", "point-robot", "smoke"))
    try:
        trainer.collector.collect_initial(trainer.horizon, trainer.rng)
        a, rng = trainer.config.algo, trainer.rng
        batches = [
            trainer.sampler.sample(rng.integers(0, len(trainer.train_tasks), a.meta_batch), rng) for _ in range(2)
        ]
        g = gemm_fraction(trainer, batches, repeats=3)
    finally:
        trainer.close()
    # forward and backward of encoder, policy, twin Q (twice), V and target V: all recorded, FLOPs as torch counts them
    assert g["gemm_calls_per_step"] > 40
    assert g["recorded_gemm_gflop"] == g["gflop_per_step"] > 0
    assert 0 < g["gemm_only_ms"] < g["update_ms"] and 0 < g["gemm_fraction"] < 1
