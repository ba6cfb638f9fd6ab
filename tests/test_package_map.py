"""The map in ``stablecore.__doc__``: every dotted name it mentions imports, and it lists every CLI
command (and only those)."""

import importlib
import re

import pytest

import stablecore

NAMES = sorted(set(re.findall(r"\bstablecore(?:\.[A-Za-z_]\w*)+", stablecore.__doc__ or "")))


def _resolve(dotted: str) -> object:
    """Import the longest module prefix of ``dotted`` and get the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_map_mentions_every_subpackage():
    subpackages = {n.split(".")[1] for n in NAMES}
    expected = {
        "blocks",
        "certify",
        "chapters",
        "cli",
        "curvature",
        "data",
        "explore",
        "landscape",
        "layers",
        "models",
        "numerics",
        "plots",
        "report",
        "reproduce",
        "results",
        "smoothing",
        "spectral",
        "torch_utils",
        "train",
        "types",
        "workflows",
    }
    assert expected <= subpackages


@pytest.mark.parametrize("dotted", NAMES)
def test_every_name_in_the_map_imports(dotted):
    assert _resolve(dotted) is not None


def test_map_lists_the_cli_commands():
    from stablecore.cli.main import COMMANDS

    block = stablecore.__doc__.split("Command line", 1)[1]
    listed = re.findall(r"``(\w+)``", block)
    assert listed == [m.__name__.rsplit(".", 1)[1] for m in COMMANDS]


def test_one_definition_per_concept():
    """The certified-accuracy rule has one home; smoothing re-exports it."""
    from stablecore import certify, smoothing

    assert smoothing.certified_accuracy_curve is certify.certified_accuracy_curve
    assert certify.certified_accuracy_curve.__module__ == "stablecore.certify.accuracy"
