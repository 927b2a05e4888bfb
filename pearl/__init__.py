"""PEARL (Rakelly et al., 2019): Algorithms 1 and 2 and the paper's ablations, as switches of one
implementation (``config``, ``encoder``, ``networks``, ``sac``, ``buffers``, ``sampler``,
``evaluation``, ``trainer``).

Two subpackages belong to no algorithm and are shared with ``baselines``: the task families
(``pearl.envs``) and ``pearl.core`` (config builder, training loop, logger interface and metric
names, checkpoints, errors, config bounds, device options).
"""
