"""RL2: hidden state across episodes of a trial and between trials, trial inputs, rollout/training consistency."""

from __future__ import annotations

import torch

from baselines import gaussian
from baselines.policies import GRUPolicyValue
from baselines.rl2 import trial_advantages
from baselines.rollouts import sample_trials
from pearl.envs import TaskVectorEnv, get_family

torch.set_num_threads(1)


def _setup(n=3, horizon=5):
    spec = get_family("point-robot")
    venv = TaskVectorEnv("point-robot", spec.train_tasks[:n], seed=0)
    venv.horizon = horizon
    torch.manual_seed(0)
    model = GRUPolicyValue(venv.obs_dim + venv.act_dim + 2, venv.act_dim, hidden_size=8)
    return venv, model


def test_hidden_state_reset_between_trials_not_between_episodes():
    venv, model = _setup()
    trials = sample_trials(venv, model, num_episodes=3)
    h = trials.hidden_at_episode_start
    assert torch.equal(h[0], torch.zeros_like(h[0]))  # trial start: zero
    assert h[1].abs().sum() > 0 and h[2].abs().sum() > 0  # carried into episodes 2 and 3
    # the carried state is exactly what the recurrence produced over episode 1
    T1 = int((trials.episode == 0).sum())
    x, mask = trials.inputs[:T1], trials.mask[:T1]
    hp = model.initial_state(3)
    for t in range(T1):
        *_, h_new = model.step(x[t], hp)
        hp = torch.where(mask[t].view(1, -1, 1), h_new, hp)
    torch.testing.assert_close(hp, h[1])
    # a new trial starts from zero again
    again = sample_trials(venv, model, num_episodes=2)
    assert torch.equal(again.hidden_at_episode_start[0], torch.zeros_like(h[0]))


def test_trial_inputs_carry_previous_action_reward_and_done_flag():
    venv, model = _setup()
    trials = sample_trials(venv, model, num_episodes=2)
    obs_dim, act_dim = venv.obs_dim, venv.act_dim
    x = trials.inputs
    # first step of the trial: zeros
    assert torch.equal(x[0, :, obs_dim:], torch.zeros(3, act_dim + 2))
    # inside an episode: a_{t-1} = the clipped env action, r_{t-1} = the reward, d = 0
    torch.testing.assert_close(x[1, :, obs_dim : obs_dim + act_dim], torch.clamp(trials.actions[0], -1, 1))
    torch.testing.assert_close(x[1, :, obs_dim + act_dim], trials.rewards[0])
    assert (x[1, :, -1] == 0).all()
    # first step of episode 2: previous episode's last action and reward, d = 1
    t2 = int((trials.episode == 0).sum())
    torch.testing.assert_close(x[t2, :, obs_dim + act_dim], trials.rewards[t2 - 1])
    assert (x[t2, :, -1] == 1).all()
    assert trials.episode_start[0].all() and trials.episode_start[t2].all()


def test_training_forward_reproduces_rollout_log_probs_with_and_without_padding():
    venv, model = _setup()
    trials = sample_trials(venv, model, num_episodes=2)
    mean, log_std, values = model.sequence(trials.inputs, trials.mask)
    logp = gaussian.log_likelihood(trials.actions, mean, log_std)
    torch.testing.assert_close(logp * trials.mask, trials.logp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(values * trials.mask, trials.values, rtol=1e-5, atol=1e-5)
    # padded path (step loop) equals the fused path where nothing is padded
    mask = trials.mask.clone()
    mask[-1, 0] = False  # pad the last step of trial 0 only
    mean_p, _, _ = model.sequence(trials.inputs, mask)
    torch.testing.assert_close(mean_p[:, 1:], mean[:, 1:], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(mean_p[:-1, 0], mean[:-1, 0], rtol=1e-5, atol=1e-6)


def test_returns_flow_across_episodes_only_when_asked():
    venv, model = _setup()
    trials = sample_trials(venv, model, num_episodes=2)
    trials.values.zero_()
    t2 = int((trials.episode == 0).sum())
    _, across = trial_advantages(trials, 2, 1.0, 1.0, across_episodes=True, normalize=False)
    _, per_episode = trial_advantages(trials, 2, 1.0, 1.0, across_episodes=False, normalize=False)
    ep = trials.episode_returns(2)
    torch.testing.assert_close(across[0], ep.sum(1))  # undiscounted return of the whole trial
    torch.testing.assert_close(per_episode[0], ep[:, 0])
    torch.testing.assert_close(per_episode[t2], ep[:, 1])
