"""Packaging checks: environment.yml lists the same packages as pyproject.toml; pins exist."""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONDA_TO_PIP = {"pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        names |= {_name(r) for r in extra}
    return names


def _environment_names() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            names |= {_name(r) for r in dep.get("pip", []) if not r.startswith("-e")}
        else:
            names.add(_name(dep))
    names -= {"python", "pip"}
    return {CONDA_TO_PIP.get(n, n) for n in names}


def test_environment_yml_matches_pyproject():
    ours, conda = _pyproject_names(), _environment_names()
    assert ours - conda == set(), f"missing from environment.yml: {sorted(ours - conda)}"
    assert conda - ours == set(), f"missing from pyproject.toml: {sorted(conda - ours)}"


def test_constraints_pin_every_dependency_and_cpu_torch():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_name(name)] = version
    assert pins.get("torch") == "2.13.0"
    missing = _pyproject_names() - set(pins)
    assert not missing, f"not pinned in constraints.txt: {sorted(missing)}"
    assert "torchvision" not in pins


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```")[1]
    commands = [line.split("#")[0].strip() for line in first_block.splitlines()[1:] if line.strip()]
    assert commands == ["make run", "make test"]


def test_ci_runs_make_test():
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test" in script
    makefile = (ROOT / "Makefile").read_text()
    assert "constraints.txt" in makefile and "pytest" in makefile
