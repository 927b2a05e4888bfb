"""The README stays true: CI runs its test command, and every command it shows exists."""

import re
import shutil
import subprocess
from pathlib import Path

from benchmarks.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _quickstart_commands() -> list[str]:
    assert "## Quickstart" in README, "README has no Quickstart section"
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)\n\s*```", quickstart, flags=re.S)
    assert commands, "the Quickstart shows no bash block"
    return commands


def test_quickstart_has_two_commands_and_ci_runs_the_second():
    commands = [c.strip() for c in _quickstart_commands()]
    assert len(commands) == 2
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert commands[1] in ci_script


def test_every_pearl_bench_subcommand_in_readme_exists():
    parser = build_parser()
    subcommands = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    shown = set(re.findall(r"pearl-bench (\w[\w-]*)", README))
    assert shown, "README shows no pearl-bench command"
    missing = shown - set(subcommands)
    assert not missing, f"README shows commands the CLI does not have: {missing}"


def test_every_benchmark_module_in_readme_exists():
    modules = re.findall(r"python -m (benchmarks\.\w+)", README)
    assert modules, "README shows no python -m benchmarks.* command"
    for module in modules:
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), module


def test_bare_commands_come_after_the_readme_says_how_to_activate_the_environment():
    """The Quickstart types ``.venv/bin/...``; every bare ``pearl-bench``/``python -m`` comes after the line that
    says how to put them on the PATH (a bare one before it is "command not found" for a new user)."""
    activate = README.find("source .venv/bin/activate")
    assert activate != -1, "README does not say how to activate the environment"
    assert activate > README.find(_quickstart_commands()[-1])  # right after the Quickstart's commands
    bare = [m.start() for m in re.finditer(r"(?<![/\w-])(pearl-bench \w|python -m )", README)]
    assert bare, "README shows no bare command"
    assert min(bare) > activate, README[min(bare) - 80 : min(bare) + 40]


def _relative_links(markdown: str) -> list[str]:
    """Targets of the Markdown links and images that point into the repository (no URL, no anchor)."""
    targets = re.findall(r"\]\(([^)\s]+)\)", markdown)
    return [t.split("#", 1)[0] for t in targets if not re.match(r"[a-z]+:|#", t)]


def test_every_file_the_readme_and_the_reference_report_link_to_is_committed():
    """The README's figures and the shipped report's links resolve in a clean clone (CI's checkout),
    and, where git is at hand, are tracked: an ignored or forgotten file fails here before it lands."""
    report = ROOT / "benchmarks" / "reference" / "report" / "index.md"
    assert report.exists(), "the shipped reference report is missing"
    links = [ROOT / t for t in _relative_links(README)]
    links += [report.parent / t for t in _relative_links(report.read_text())]
    assert any(p.suffix == ".png" for p in links), "the README shows no figure"
    missing = [str(p.relative_to(ROOT)) for p in links if not p.exists()]
    assert not missing, f"linked but not in the checkout: {missing}"
    if shutil.which("git") and (ROOT / ".git").exists():
        listed = subprocess.run(
            ["git", "ls-files", "--", *{str(p.relative_to(ROOT)) for p in links}],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        untracked = sorted({str(p.relative_to(ROOT)) for p in links} - set(listed))
        assert not untracked, f"linked but not tracked by git (ignored or not added): {untracked}"
