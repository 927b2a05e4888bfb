"""Fixed per-task reference scores for the aggregate (IQM) table.

rliable normalises each task by fixed reference scores (a random policy and a reference level)
so that a method's score does not depend on which other methods are in the table. Here:

* ``low``: the return of a uniform random policy, one episode per test task (the first
  ``RANDOM_TASKS``) at the runs' horizon, seeded, with the reward the runs report (sparse on
  sparse-point-robot);
* ``high``: the best mean-over-seeds final return of the paper's four main methods on that
  task (PEARL, RL², MAML-TRPO, ProMP); no published numbers exist for these families.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

RANDOM_TASKS = 5


@lru_cache(maxsize=None)
def random_policy_return(
    family: str, env_kwargs: tuple[tuple[str, object], ...], horizon: int, sparse: bool, seed: int = 0
) -> float:
    """Mean undiscounted return of uniform random actions over the first test tasks."""
    from pearl.envs import TaskVectorEnv, get_family

    tasks = get_family(family).test_tasks[:RANDOM_TASKS]
    venv = TaskVectorEnv(family, tasks, seed=seed, **dict(env_kwargs))
    rng = np.random.default_rng(seed)
    venv.reset()
    total = np.zeros(len(tasks))
    for _ in range(horizon):
        if venv.done.all():
            break
        _, reward, _, _, info = venv.step(rng.uniform(-1, 1, (venv.num_envs, venv.act_dim)))
        total += np.where(info["active"], info["sparse_reward"] if sparse else reward, 0.0)
    venv.close()
    return float(total.mean())


def _horizon(row: pd.Series) -> int:
    from pearl.envs import get_family

    for column in ("config.algo.max_path_length", "config.sampling.max_path_length"):
        value = row.get(column)
        if value is not None and not pd.isna(value):
            return int(value)
    return get_family(row["family"]).horizon


def _env_kwargs(row: pd.Series) -> tuple[tuple[str, object], ...]:
    prefix = "config.env_kwargs."
    return tuple(
        sorted(
            (k[len(prefix) :], v)
            for k, v in row.items()
            if k.startswith(prefix) and v is not None and not (isinstance(v, float) and np.isnan(v))
        )
    )


def random_scores(run_table: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``by`` + ``low`` (random-policy return) + ``horizon`` per task; NaN where the runs of a task
    disagree on horizon or reward (their returns are then not comparable)."""
    rows = []
    for key, group in run_table.groupby(by, sort=True, dropna=False):
        setups = {
            (
                _horizon(r),
                _env_kwargs(r),
                r.get("config.algo.sparse_rewards") is True or r.get("config.algo.sparse_rewards") is np.True_,
            )
            for _, r in group.iterrows()
        }
        row = dict(zip(by, key))
        if len(setups) == 1:
            horizon, kwargs, sparse = setups.pop()
            row.update(low=random_policy_return(row["family"], kwargs, horizon, sparse), horizon=horizon)
        else:
            row.update(low=np.nan, horizon=np.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*by, "low", "horizon"])
