"""Per-task replay buffers and the context sampler S_c (paper Section 5, reference Section 2.3).

``MultiTaskReplayBuffer`` keeps one FIFO ring per train task in a single float32 array
``(task, slot, field)`` so a whole meta-batch is gathered with one fancy index. Each row is
``[s, a, r, r_sparse, terminal, s']``; ``terminal`` is the env's *terminated* flag (never the
horizon truncation; reference Section 7.1). Storage grows by doubling up to ``capacity`` per task.
Every ``add`` is one episode (the collector stores whole episodes), so the buffer also knows where
each stored episode starts.

PEARL keeps two of these: the RL buffer B (everything ever collected) and the context ("enc")
buffer holding only the most recent collection round of each task. ``BatchSampler`` implements
the context sampler S_c of each method (``PEARLConfig.context_source`` / ``rl_batch_mode``):

* recent     context ~ uniform transitions from the enc buffer (PEARL)
* replay     context ~ uniform transitions from the whole RL buffer ("off-policy" ablation)
* rl-batch   context = the RL batch itself ("off-policy RL-batch" ablation)
* GRU encoders read the context as whole trajectories, each from its first step, in collection
  order within a trajectory, ``embedding_batch_size`` transitions in all (Section 6.3: "we sample
  the context as full trajectories ... backprop through the RNN to 100 timesteps");
  ``rl_batch_mode == 'trajectories'`` ("RNN traj") draws the RL batch as whole trajectories adding
  up to ``batch_size`` transitions too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Layout:
    """Column layout of a buffer row."""

    obs_dim: int
    act_dim: int

    @property
    def obs(self) -> slice:
        return slice(0, self.obs_dim)

    @property
    def action(self) -> slice:
        return slice(self.obs_dim, self.obs_dim + self.act_dim)

    @property
    def reward(self) -> int:
        return self.obs_dim + self.act_dim

    @property
    def sparse_reward(self) -> int:
        return self.reward + 1

    @property
    def terminal(self) -> int:
        return self.reward + 2

    @property
    def next_obs(self) -> slice:
        start = self.reward + 3
        return slice(start, start + self.obs_dim)

    @property
    def width(self) -> int:
        return 2 * self.obs_dim + self.act_dim + 3

    def context_columns(self, use_next_obs: bool, sparse_rewards: bool) -> np.ndarray:
        """Columns of a context row: ``[s, a, r]`` or ``[s, a, r, s']`` (r sparse if asked)."""
        cols = list(range(self.obs.start, self.obs.stop)) + list(range(self.action.start, self.action.stop))
        cols.append(self.sparse_reward if sparse_rewards else self.reward)
        if use_next_obs:
            cols += list(range(self.next_obs.start, self.next_obs.stop))
        return np.asarray(cols)

    def context_dim(self, use_next_obs: bool) -> int:
        return self.obs_dim + self.act_dim + 1 + (self.obs_dim if use_next_obs else 0)

    def rows(self, obs, action, reward, sparse_reward, terminal, next_obs) -> np.ndarray:
        """Pack per-transition arrays (leading dims equal) into buffer rows."""
        out = np.empty((*np.shape(reward), self.width), dtype=np.float32)
        self.write_rows(out, obs, action, reward, sparse_reward, terminal, next_obs)
        return out

    def write_rows(self, out: np.ndarray, obs, action, reward, sparse_reward, terminal, next_obs) -> None:
        """``rows(...)`` written into ``out (..., width)`` in place (the rollout loop's preallocated array)."""
        lead = out.shape[:-1]
        out[..., self.obs] = np.reshape(obs, (*lead, self.obs_dim))
        out[..., self.action] = np.reshape(action, (*lead, self.act_dim))
        out[..., self.reward] = reward
        out[..., self.sparse_reward] = sparse_reward
        out[..., self.terminal] = terminal
        out[..., self.next_obs] = np.reshape(next_obs, (*lead, self.obs_dim))


class MultiTaskReplayBuffer:
    """One FIFO ring of ``capacity`` transitions per task."""

    def __init__(self, num_tasks: int, layout: Layout, capacity: int, initial_slots: int = 1024):
        self.layout = layout
        self.capacity = int(capacity)
        self.data = np.zeros((num_tasks, min(initial_slots, self.capacity), layout.width), dtype=np.float32)
        self.size = np.zeros(num_tasks, dtype=np.int64)
        self.ptr = np.zeros(num_tasks, dtype=np.int64)  # next write slot
        # episode bookkeeping in absolute row numbers (rows ever added since the last clear); the row
        # numbered ``k`` lives in slot ``k % slots`` and is still stored iff ``k >= added - size``
        self.added = np.zeros(num_tasks, dtype=np.int64)
        self.episode_starts = [np.zeros(0, dtype=np.int64) for _ in range(num_tasks)]

    @property
    def num_tasks(self) -> int:
        return self.data.shape[0]

    @property
    def slots(self) -> int:
        return self.data.shape[1]

    def _grow(self, needed: int) -> None:
        new = min(self.capacity, max(2 * self.slots, needed))
        grown = np.zeros((self.num_tasks, new, self.layout.width), dtype=np.float32)
        # storage only grows before any ring wrapped (a wrap needs slots == capacity), so rows are in order
        grown[:, : self.slots] = self.data
        self.data = grown

    def add(self, task: int, rows: np.ndarray) -> None:
        """Append one episode's ``rows (n, width)`` to ``task``'s ring, overwriting the oldest when full."""
        n = len(rows)
        if n == 0:
            return
        if n > self.capacity:
            rows, n = rows[-self.capacity :], self.capacity
        self.episode_starts[task] = np.append(self.episode_starts[task], self.added[task])
        self.added[task] += n
        if self.size[task] + n > self.slots and self.slots < self.capacity:
            self._grow(int(self.size[task] + n))
        pos = (self.ptr[task] + np.arange(n)) % self.slots
        self.data[task, pos] = rows
        self.size[task] = min(self.size[task] + n, self.slots)
        # before the ring is at full capacity, ptr == size (so later growth keeps it valid)
        self.ptr[task] = (self.ptr[task] + n) % self.slots if self.slots == self.capacity else self.size[task]

    def clear(self, tasks) -> None:
        self.size[tasks] = 0
        self.ptr[tasks] = 0
        self.added[tasks] = 0
        for task in np.atleast_1d(tasks):
            self.episode_starts[task] = np.zeros(0, dtype=np.int64)

    def _check(self, tasks: np.ndarray) -> None:
        empty = tasks[self.size[tasks] == 0]
        if len(empty):
            raise RuntimeError(f"sampling from empty buffer(s) of task(s) {sorted(set(empty.tolist()))}")

    def sample_transitions(self, tasks: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` rows per task, uniform with replacement: ``(len(tasks), n, width)``."""
        tasks = np.asarray(tasks)
        self._check(tasks)
        idx = (rng.random((len(tasks), n)) * self.size[tasks][:, None]).astype(np.int64)
        return self.data[tasks[:, None], idx]

    def stored_episodes(self, task: int) -> tuple[np.ndarray, np.ndarray]:
        """Absolute first rows and lengths of ``task``'s episodes that are still wholly stored."""
        starts = self.episode_starts[task]
        first = np.searchsorted(starts, self.added[task] - self.size[task])  # older ones were overwritten
        starts = starts[first:]
        lengths = np.diff(starts, append=self.added[task])
        return starts, lengths

    def sample_trajectories(self, tasks: np.ndarray, num_rows: int, rng: np.random.Generator) -> np.ndarray:
        """Whole trajectories per task, each read from its first step, ``num_rows`` rows in all.

        Returns ``(len(tasks), num_rows, width)``: uniformly drawn stored episodes of the task
        (with replacement), concatenated, the last one cut at ``num_rows``. One draw per
        trajectory, so this loops over tasks and trajectories, never over transitions.
        """
        tasks = np.asarray(tasks)
        self._check(tasks)
        physical = np.empty((len(tasks), num_rows), dtype=np.int64)
        for i, task in enumerate(tasks):
            starts, lengths = self.stored_episodes(task)
            filled = 0
            while filled < num_rows:
                j = int(rng.integers(len(starts)))
                take = min(int(lengths[j]), num_rows - filled)
                physical[i, filled : filled + take] = (starts[j] + np.arange(take)) % self.slots
                filled += take
        return self.data[tasks[:, None], physical]

    def all_rows(self, task: int) -> np.ndarray:
        """The task's rows in collection order (oldest first)."""
        size = int(self.size[task])
        oldest = int(self.ptr[task]) if size == self.slots else 0
        return self.data[task, (oldest + np.arange(size)) % self.slots]

    # ---- checkpointing -------------------------------------------------------------------
    def state_dict(self) -> dict:
        used = int(self.size.max()) if self.size.size else 0
        return {
            "data": self.data[:, :used].copy(),
            "slots": self.slots,
            "size": self.size.copy(),
            "ptr": self.ptr.copy(),
            "capacity": self.capacity,
            "added": self.added.copy(),
            "episode_starts": [s.copy() for s in self.episode_starts],
        }

    def load_state_dict(self, state: dict) -> None:
        self.capacity = int(state["capacity"])
        self.data = np.zeros((len(state["size"]), int(state["slots"]), self.layout.width), dtype=np.float32)
        self.data[:, : state["data"].shape[1]] = state["data"]
        self.size = np.asarray(state["size"], dtype=np.int64).copy()
        self.ptr = np.asarray(state["ptr"], dtype=np.int64).copy()
        self.added = np.asarray(state["added"], dtype=np.int64).copy()
        self.episode_starts = [np.asarray(s, dtype=np.int64).copy() for s in state["episode_starts"]]


@dataclass
class Batch:
    """An RL batch ``(task, batch, .)`` and the context ``(task, N, context_dim)`` (numpy float32)."""

    obs: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    terminal: np.ndarray
    next_obs: np.ndarray
    context: np.ndarray


class BatchSampler:
    """RL batches from B and context batches from S_c, per the method's switches."""

    def __init__(
        self,
        rl_buffer: MultiTaskReplayBuffer,
        enc_buffer: MultiTaskReplayBuffer,
        *,
        context_source: str,
        sequence_context: bool,
        rl_batch_mode: str,
        batch_size: int,
        embedding_batch_size: int,
        use_next_obs: bool,
        sparse_rewards: bool,
    ):
        if context_source not in ("recent", "replay", "rl-batch"):
            raise ValueError(f"unknown context source {context_source!r}; valid: 'recent', 'replay', 'rl-batch'")
        if rl_batch_mode not in ("transitions", "trajectories"):
            raise ValueError(f"unknown RL batch mode {rl_batch_mode!r}; valid: 'transitions', 'trajectories'")
        self.rl_buffer, self.enc_buffer = rl_buffer, enc_buffer
        self.context_source = context_source
        self.sequence_context = sequence_context
        self.rl_batch_mode = rl_batch_mode
        self.batch_size = batch_size
        self.embedding_batch_size = embedding_batch_size
        self.layout = rl_buffer.layout
        self.context_cols = self.layout.context_columns(use_next_obs, sparse_rewards)

    def to_context(self, rows: np.ndarray) -> np.ndarray:
        return rows[..., self.context_cols]

    def sample_context(self, tasks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A context batch per task from S_c (used for training and for posterior collection).

        For 'rl-batch' (no RL batch at hand, e.g. during collection) this draws transitions from B.
        """
        buffer = self.enc_buffer if self.context_source == "recent" else self.rl_buffer
        if self.sequence_context:
            rows = buffer.sample_trajectories(tasks, self.embedding_batch_size, rng)
        else:
            rows = buffer.sample_transitions(tasks, self.embedding_batch_size, rng)
        return self.to_context(rows)

    def sample_rl_rows(self, tasks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.rl_batch_mode == "trajectories":
            return self.rl_buffer.sample_trajectories(tasks, self.batch_size, rng)
        return self.rl_buffer.sample_transitions(tasks, self.batch_size, rng)

    def sample(self, tasks: np.ndarray, rng: np.random.Generator) -> Batch:
        """One meta-batch: RL batch b_i ~ B_i and context c_i ~ S_c(B_i) (Algorithm 1, line 13)."""
        rows = self.sample_rl_rows(tasks, rng)
        if self.context_source == "rl-batch":
            context = self.to_context(rows)
        else:
            context = self.sample_context(tasks, rng)
        L = self.layout
        return Batch(
            obs=rows[..., L.obs],
            action=rows[..., L.action],
            reward=rows[..., L.reward],
            terminal=rows[..., L.terminal],
            next_obs=rows[..., L.next_obs],
            context=context,
        )
