"""Command line, benchmark harness (Sacred experiment, method registry, matrix runner) and speed benchmarks."""

import warnings

# sacred 0.8.7 imports pkg_resources, which setuptools deprecates; the warning is not actionable here
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
