"""The train progress bar follows iterations, env steps and the latest test return."""

from benchmarks.progress import TrainProgress
from pearl.core.logger import ENV_STEPS_METRIC, ITERATION_METRIC, RETURN_METRIC


def test_bar_counts_iterations_from_the_iteration_metric_not_the_step():
    bar = TrainProgress(5, ENV_STEPS_METRIC, RETURN_METRIC, enabled=True)
    bar.bar.disable = True  # keep the terminal quiet; the counters are what we check
    for it, env_steps in enumerate([160, 240, 320]):
        bar("train/qf_loss", 1.0, env_steps)  # steps are env steps, not iterations
        bar(ITERATION_METRIC, it, env_steps)
        bar(ENV_STEPS_METRIC, env_steps, env_steps)
    bar(RETURN_METRIC, -12.5, 320)
    assert bar.iterations_done == 3 and bar.bar.n == 3
    assert bar.env_steps == 320 and bar.test_return == -12.5
    bar.close()
