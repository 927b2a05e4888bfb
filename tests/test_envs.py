"""Task families: rewards against their formulas, task sets, gymnasium semantics, bad input."""

import warnings

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from pearl.envs import FAMILIES, MUJOCO_FAMILIES, TaskVectorEnv, get_family, make_env, task_to_jsonable

ALL = list(FAMILIES)

EXPECTED = {  # obs dim, act dim, horizon, n_train, n_test
    "cheetah-vel": (20, 6, 200, 100, 30),
    "cheetah-fwd-back": (20, 6, 200, 2, 2),
    "ant-fwd-back": (27, 8, 200, 2, 2),
    "ant-goal-2d": (113, 8, 200, 150, 30),
    "humanoid-dir-2d": (376, 17, 200, 100, 30),
    "walker-params": (17, 6, 200, 40, 10),
    "point-robot": (2, 2, 20, 80, 20),
    "sparse-point-robot": (2, 2, 20, 80, 20),
}


@pytest.mark.parametrize("family", ALL)
def test_check_env_and_sizes(family):
    env = make_env(family)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded observation boxes are intended
        check_env(env.unwrapped, skip_render_check=True)
    spec = get_family(family)
    obs_dim, act_dim, horizon, n_train, n_test = EXPECTED[family]
    assert env.observation_space.shape == (obs_dim,)
    assert env.action_space.shape == (act_dim,)
    assert (spec.horizon, len(spec.train_tasks), len(spec.test_tasks)) == (horizon, n_train, n_test)
    assert gym.spec(spec.env_id).max_episode_steps == horizon


@pytest.mark.parametrize("family", ALL)
def test_task_sets_are_deterministic_and_disjoint(family):
    spec = get_family(family)
    first = [task_to_jsonable(t) for t in spec.all_tasks()]
    second = [task_to_jsonable(t) for t in spec.all_tasks()]
    assert first == second
    train = [repr(task_to_jsonable(t)) for t in spec.train_tasks]
    test = [repr(task_to_jsonable(t)) for t in spec.test_tasks]
    if spec.shared_train_test:
        assert train == test
    else:
        assert not set(train) & set(test)
        assert len(set(train)) == len(train)


def test_task_distributions():
    vel = np.array([t["velocity"] for t in get_family("cheetah-vel").all_tasks()])
    assert vel.min() >= 0 and vel.max() <= 3 and vel.max() > 2.5
    assert sorted(t["direction"] for t in get_family("cheetah-fwd-back").train_tasks) == [-1.0, 1.0]
    assert sorted(t["angle"] for t in get_family("ant-fwd-back").train_tasks) == [0.0, np.pi]
    goals = np.array([t["goal"] for t in get_family("ant-goal-2d").all_tasks()])
    assert np.linalg.norm(goals, axis=1).max() <= 3.0
    sparse = np.array([t["goal"] for t in get_family("sparse-point-robot").all_tasks()])
    np.testing.assert_allclose(np.linalg.norm(sparse, axis=1), 1.0)
    assert (sparse[:, 1] >= -1e-12).all()
    walker = get_family("walker-params").train_tasks[0]
    assert np.all((walker["body_mass"] >= 1.5**-3) & (walker["body_mass"] <= 1.5**3))
    assert np.all((walker["dof_damping"] >= 1.3**-3) & (walker["dof_damping"] <= 1.3**3))


FALLING = ["humanoid-dir-2d", "walker-params"]  # robots that fall under zero torque before the time limit


@pytest.mark.parametrize("family", ALL)
def test_time_limit_is_truncation(family):
    """Every family runs to its time limit: the robot is put back to its start state before each step
    (it cannot fall), and only the last step is truncated, none terminated."""
    env = make_env(family)
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, dtype=np.float32)
    spec = get_family(family)
    physics = env.unwrapped if family in MUJOCO_FAMILIES else None
    start = (physics.data.qpos.copy(), physics.data.qvel.copy()) if physics is not None else None
    for t in range(spec.horizon):
        if start is not None:
            _set_state(physics, *start)
        _, _, terminated, truncated, _ = env.step(zero)
        assert not terminated, t
        assert truncated == (t == spec.horizon - 1), t


@pytest.mark.parametrize("family", FALLING)
def test_a_fall_is_termination_not_truncation(family):
    env = make_env(family)
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, dtype=np.float32)
    horizon = get_family(family).horizon
    for t in range(horizon):
        _, _, terminated, truncated, _ = env.step(zero)
        assert not truncated, t
        if terminated:
            break
    assert terminated and t < horizon - 1  # a real terminal, well before the limit


def _set_state(env, qpos, qvel):
    env.data.qpos[:] = qpos
    env.data.qvel[:] = qvel
    mujoco.mj_forward(env.model, env.data)


def test_cheetah_vel_reward():
    env = make_env("cheetah-vel", task={"velocity": 1.7}).unwrapped
    env.reset(seed=0)
    action = np.linspace(-1, 1, 6)
    x0 = env.data.qpos[0]
    _, reward, terminated, _, info = env.step(action)
    v = (env.data.qpos[0] - x0) / 0.05
    assert reward == pytest.approx(-abs(v - 1.7) - 0.05 * np.sum(action**2))
    assert not terminated and info["x_velocity"] == pytest.approx(v)


def test_cheetah_fwd_back_reward_sign():
    for direction in (1.0, -1.0):
        env = make_env("cheetah-fwd-back", task={"direction": direction}).unwrapped
        env.reset(seed=0)
        _set_state(env, env.data.qpos, np.r_[2.0, np.zeros(8)])  # sliding forward at 2 m/s
        x0 = env.data.qpos[0]
        _, reward, _, _, _ = env.step(np.zeros(6))
        v = (env.data.qpos[0] - x0) / env.dt
        assert v > 0.5
        assert reward == pytest.approx(direction * v)


def test_cheetah_observation_layout():
    env = make_env("cheetah-vel").unwrapped
    obs, _ = env.reset(seed=1)
    d = env.data
    np.testing.assert_allclose(obs, np.r_[d.qpos[1:], d.qvel, d.xpos[env.model.body("torso").id]], rtol=1e-6)


def test_ant_fwd_back_reward_and_termination():
    env = make_env("ant-fwd-back", task={"angle": np.pi}).unwrapped
    env.reset(seed=0)
    action = np.full(8, 0.5)
    xy0 = env.data.xpos[1, :2].copy()
    _, reward, terminated, _, info = env.step(action)
    v = (env.data.xpos[1, :2] - xy0) / 0.05
    contact = 0.5e-3 * np.sum(np.clip(env.data.cfrc_ext, -1, 1) ** 2)
    expected = -v[0] - 0.5 * np.sum(env.scale_action(action) ** 2) - contact + 1.0
    assert reward == pytest.approx(expected)
    assert not terminated
    qpos = env.data.qpos.copy()
    qpos[2] = 1.5  # torso too high: outside [0.2, 1.0]
    _set_state(env, qpos, np.zeros(env.model.nv))
    assert env.step(np.zeros(8))[2]


def test_ant_goal_reward():
    env = make_env("ant-goal-2d", task={"goal": np.array([1.0, -2.0])}).unwrapped
    env.reset(seed=0)
    action = np.full(8, -0.3)
    obs, reward, terminated, _, _ = env.step(action)
    xy = env.data.xpos[1, :2]
    contact = 0.5e-3 * np.sum(np.clip(env.data.cfrc_ext, -1, 1) ** 2)
    expected = -np.abs(xy - [1.0, -2.0]).sum() - 0.1 * np.sum(action**2) - contact
    assert reward == pytest.approx(expected)
    assert not terminated
    np.testing.assert_allclose(obs[:15], env.data.qpos, rtol=1e-6)


def test_humanoid_reward():
    env = make_env("humanoid-dir-2d", task={"angle": 0.3}).unwrapped
    env.reset(seed=0)
    action = np.full(17, 0.2)
    com0 = env.data.subtree_com[0, :2].copy()  # whole-body centre of mass, computed by MuJoCo
    _, reward, terminated, _, _ = env.step(action)
    com1 = env.data.subtree_com[0, :2]
    forward = 0.25 * (com1 - com0) @ [np.cos(0.3), np.sin(0.3)] / 0.003
    ctrl = 0.1 * np.sum((0.4 * action) ** 2)  # ctrlrange is [-0.4, 0.4]
    impact = min(0.5e-6 * np.sum(env.data.cfrc_ext**2), 10)
    assert reward == pytest.approx(forward - ctrl - impact + 5.0, rel=1e-6)
    assert not terminated


def test_walker_reward_and_termination():
    env = make_env("walker-params").unwrapped
    env.reset(seed=0)
    assert env.model.opt.timestep == 0.004 and env.dt == pytest.approx(0.016)
    action = np.full(6, 0.4)
    x0 = env.data.qpos[0]
    obs, reward, terminated, _, _ = env.step(action)
    assert reward == pytest.approx((env.data.qpos[0] - x0) / 0.016 + 1.0 - 1e-3 * np.sum(action**2))
    assert not terminated
    assert np.abs(obs[8:]).max() <= 10.0
    qpos = env.data.qpos.copy()
    qpos[2] = 1.2  # torso angle beyond 1 rad
    _set_state(env, qpos, env.data.qvel)
    assert env.step(np.zeros(6))[2]


@pytest.mark.parametrize("family", ["ant-fwd-back", "ant-goal-2d", "humanoid-dir-2d"])
def test_contact_forces_are_computed(family):
    """MuJoCo >= 2 leaves cfrc_ext at zero unless mj_rnePostConstraint runs."""
    env = make_env(family).unwrapped
    env.reset(seed=0)
    for _ in range(10):  # let the robot settle onto the ground
        obs, _, _, _, info = env.step(np.zeros(env.action_space.shape))
    assert np.abs(env.data.cfrc_ext).sum() > 0
    if family == "ant-goal-2d":
        assert np.abs(obs[29:]).sum() > 0  # the 84 clipped contact-force dims
        assert info["reward_contact"] < 0
    if family == "ant-fwd-back":
        assert info["reward_contact"] < 0
    if family == "humanoid-dir-2d":
        assert np.abs(obs[-84:]).sum() > 0
        assert info["reward_impact"] < 0


def test_point_robot_dynamics_and_reward():
    env = make_env("point-robot", task={"goal": np.array([0.5, -0.5])}).unwrapped
    obs, _ = env.reset(seed=3)
    obs2, reward, terminated, _, _ = env.step(np.array([1.0, -0.5]))  # scaled to (0.1, -0.05)
    np.testing.assert_allclose(obs2, obs + np.array([0.1, -0.05], dtype=np.float32), atol=1e-6)
    assert reward == pytest.approx(-np.linalg.norm(obs2.astype(np.float64) - [0.5, -0.5]), abs=1e-6)
    assert not terminated


@pytest.mark.parametrize("radius", [0.2, 0.8])
def test_sparse_reward_inside_and_outside(radius):
    env = make_env("sparse-point-robot", task={"goal": np.array([0.0, 1.0])}, goal_radius=radius).unwrapped
    obs, _ = env.reset(seed=0)
    assert np.all(obs == 0)
    rewards = []
    for _ in range(10):  # walk straight up to the goal at (0, 1) in steps of 0.095
        _, dense, _, _, info = env.step(np.array([0.0, 0.95]))
        rewards.append((dense, info["sparse_reward"]))
    distances = np.abs(1.0 - 0.095 * np.arange(1, 11))  # 0.905, 0.81, ..., 0.24, 0.145, 0.05
    np.testing.assert_allclose([-d for d, _ in rewards], distances, atol=1e-6)
    expected = [1.0 - dist if dist < radius else 0.0 for dist in distances]
    np.testing.assert_allclose([s for _, s in rewards], expected, atol=1e-6)
    assert sum(s > 0 for _, s in rewards) == (2 if radius == 0.2 else 8)


def test_walker_parameters_restore_exactly():
    spec = get_family("walker-params")
    task_a, task_b = spec.train_tasks[0], spec.train_tasks[1]
    env = make_env("walker-params", task=task_a).unwrapped
    actions = np.random.default_rng(0).uniform(-1, 1, (40, 6))

    def trajectory():
        obs = [env.reset(seed=7)[0]]
        for a in actions:
            obs.append(env.step(a)[0])
        return np.array(obs)

    first_a = trajectory()
    mass_a = env.model.body_mass.copy()
    env.set_task(task_b)
    b = trajectory()
    assert not np.allclose(env.model.body_mass, mass_a)
    env.set_task(task_a)
    second_a = trajectory()
    np.testing.assert_array_equal(first_a, second_a)
    assert not np.allclose(first_a, b)
    np.testing.assert_array_equal(env.model.body_mass, mass_a)
    assert env.model.body_subtreemass[0] == pytest.approx(env.model.body_mass.sum())


def test_vector_env_matches_single_envs():
    spec = get_family("cheetah-vel")
    tasks = spec.train_tasks[:3]
    venv = TaskVectorEnv("cheetah-vel", tasks, seed=10)
    obs = venv.reset()
    actions = np.random.default_rng(1).uniform(-1, 1, (5, 3, 6))
    singles = [make_env("cheetah-vel", task=t) for t in tasks]
    single_obs = np.stack([env.reset(seed=10 + i)[0] for i, env in enumerate(singles)])
    np.testing.assert_array_equal(obs, single_obs)
    for a in actions:
        obs, reward, terminated, truncated, info = venv.step(a)
        outs = [env.step(a[i]) for i, env in enumerate(singles)]
        np.testing.assert_array_equal(obs, np.stack([o[0] for o in outs]))
        np.testing.assert_allclose(reward, [o[1] for o in outs])
        assert info["active"].all() and not terminated.any() and not truncated.any()


def test_vector_env_done_envs_stay_done_until_reset():
    spec = get_family("sparse-point-robot")
    venv = TaskVectorEnv("sparse-point-robot", spec.test_tasks[:4], seed=0)
    venv.reset()
    for t in range(spec.horizon):
        obs, reward, terminated, truncated, info = venv.step(np.zeros((4, 2)))
        assert "sparse_reward" in info
    assert truncated.all() and not terminated.any() and venv.done.all()
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros((4, 2)))
    venv.reset()
    assert not venv.done.any()


def test_vector_env_terminated_env_is_frozen():
    spec = get_family("walker-params")
    venv = TaskVectorEnv("walker-params", spec.train_tasks[:2], seed=0)
    venv.reset()
    qpos = venv.envs[0].data.qpos.copy()
    qpos[2] = 1.5  # tip the first walker over: it terminates on the next step
    _set_state(venv.envs[0], qpos, venv.envs[0].data.qvel)
    _, _, terminated, _, info = venv.step(np.zeros((2, 6)))
    assert terminated.tolist() == [True, False]
    frozen = venv.envs[0].data.qpos.copy()
    _, reward, terminated, _, info = venv.step(np.zeros((2, 6)))
    assert info["active"].tolist() == [False, True] and reward[0] == 0.0 and not terminated[0]
    np.testing.assert_array_equal(venv.envs[0].data.qpos, frozen)


def test_unknown_family_error():
    with pytest.raises(ValueError, match=r"unknown task family 'cheetah-velocity'.*valid families: cheetah-vel"):
        make_env("cheetah-velocity")


def test_task_index_out_of_range_error():
    with pytest.raises(
        IndexError, match=r"task index 30 out of range for cheetah-vel test tasks; valid indices: 0\.\.29"
    ):
        get_family("cheetah-vel").task("test", 30)
    with pytest.raises(ValueError, match="valid splits"):
        get_family("cheetah-vel").tasks("validation")


@pytest.mark.parametrize("family", ["cheetah-vel", "point-robot"])
def test_bad_actions(family):
    env = make_env(family)
    env.reset(seed=0)
    n = env.action_space.shape[0]
    with pytest.raises(ValueError, match=rf"action has shape \({n + 1},\), expected \({n},\)"):
        env.unwrapped.step(np.zeros(n + 1))
    with pytest.raises(ValueError, match="non-finite"):
        env.unwrapped.step(np.r_[np.nan, np.zeros(n - 1)])
    venv = TaskVectorEnv(family, get_family(family).train_tasks[:2])
    venv.reset()
    with pytest.raises(ValueError, match=rf"expected \(2, {n}\)"):
        venv.step(np.zeros((3, n)))
    with pytest.raises(ValueError, match=r"non-finite values in rows \[1\]"):
        venv.step(np.array([np.zeros(n), np.full(n, np.inf)]))


def test_seeded_resets_are_reproducible():
    env = make_env("ant-goal-2d")
    a, _ = env.reset(seed=5)
    b, _ = env.reset(seed=5)
    c, _ = env.reset(seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
