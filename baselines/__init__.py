"""On-policy meta-RL baselines of the PEARL paper (Section 6.1, Figure 3): RL2-PPO, MAML-TRPO and ProMP.

Written from the descriptions in ``shared/reference/baselines.md`` (the ProMP repository that PEARL's
authors used for all three). Entry point: ``baselines.trainer.train(config, logger, checkpoint_dir)``
with a config from ``baselines.config.make_config(method, family, profile, overrides)``.

Modules, one job each:

* ``gaussian``      diagonal-Gaussian log-likelihood, KL and entropy (reference Section 1.1)
* ``policies``      Gaussian MLP policy batched over per-task parameters; GRU policy/value for RL2
* ``advantages``    discounted returns, GAE, the linear feature baseline (reference Section 5)
* ``cg``            conjugate gradient
* ``rollouts``      lockstep meta-batch rollouts on ``TaskVectorEnv`` and RL2 trials
* ``maml``          inner adaptation step(s), MAML-TRPO outer step (reference Section 3)
* ``promp``         ProMP outer objective (reference Section 2)
* ``rl2``           RL2 with PPO (reference Section 4)
* ``config``        typed configs (``METHODS``), family presets and profiles, built by ``pearl.core.configs``
* ``trainer``       ``BaselineTrainer``: one iteration, evaluation, checkpoint state, seeding; the outer
                    loop is the one PEARL runs too (``pearl.core.loop``)

From ``pearl`` they use only the algorithm-neutral pieces: the task families (``pearl.envs``) and
``pearl.core`` (config builder, training loop, logger interface, checkpoints, errors, hardware).
The benchmark harness reaches them through ``benchmarks.baseline_method``.
"""
