"""Algorithm-neutral pieces shared by PEARL (``pearl``) and the baselines (``baselines``).

Nothing here imports an algorithm; ``baselines`` uses only this package and the task families
(``pearl.envs``), never PEARL's own modules (a test checks it). One job per module:

* ``bounds``      valid ranges of numeric config fields, declared as field metadata, one checker
* ``configs``     the config builder: family presets, profiles (``PROFILES``), ``--set`` overrides,
                  validation, dict round trip
* ``loop``        the outer training loop: iterate, log against env steps, checkpoint, resume
* ``logger``      the logger interface and the metric names every method logs
* ``checkpoint``  checkpoint files: atomic writes, safe loading, resume checks, torch RNG state
* ``errors``      errors every algorithm raises the same way (``NonFiniteLossError``)
* ``files``       opening files in a run directory without following symbolic links
* ``hardware``    the ``device`` and ``precision`` options
"""
