"""Malformed argument values for every ``stablecore`` command, in-process: NaN, ±inf, negative, zero where
a positive value is needed, huge, wrong type, unknown names, paths outside the store or missing.

Each case must be refused with exit code 2 and one line on stderr (naming the argument where the case
says which), no traceback, nothing written outside the store. Commands that take ``--run`` get a valid
run inside the store, so that the malformed value is the only thing wrong; their base settings are tiny,
so a value accepted by mistake costs a second, not minutes. Cases that could hang or allocate without
bound when accepted run as a subprocess in ``test_reliability_subprocess.py``.
"""

from __future__ import annotations

import pytest
from reliability_commands import CERTIFY, HESSIAN, HUGE, LANDSCAPE, REPORT, SPECTRAL, TRAIN


def _option_cases(option: str, values: list[str], needle: str | None = "") -> list:
    """``(option, value)`` cases; the error must name ``needle`` (default: the option itself)."""
    name = option if needle == "" else needle
    return [pytest.param([option, v], name, id=f"{option}={v}") for v in values]


TRAIN_CASES = [
    *_option_cases("--epochs", ["0", "-1", "nan", "inf", "abc", "1e308", "1.5"]),
    *_option_cases("--batch-size", ["0", "-3", "nan", "abc"]),
    *_option_cases("--lr", ["nan", "-inf", "-1", "0", "abc"]),
    *_option_cases("--seed", ["-1", "nan", "inf", "abc", "1e308"]),
    *_option_cases("--seed", [HUGE], needle="seed"),  # does not fit a 64-bit seed
    *_option_cases("--device", ["abc", "cuda:99", "", "cpu:abc", "meta", "mps", "xla"], needle="device"),
    *_option_cases("--mode", ["fast"]),
    *_option_cases("--dataset", ["nope", "../../etc"]),
    *_option_cases("--model", ["nope"]),
    *_option_cases("--loss", ["nope"]),
    *_option_cases("--model-arg", ["noequals", "=3", "1x=2"]),
    *_option_cases("--model-arg", ["hidden=[-1]", "hidden=NaN", "hidden=[0.5]"], needle="hidden"),
    *_option_cases("--model-arg", ["hidden=abc"], needle="hidden"),
    *_option_cases("--model-arg", ["bogus=1"], needle="bogus"),
    *_option_cases("--loss-arg", ["bogus=1"], needle="bogus"),
    *_option_cases("--experiment", ["../..", "/tmp", "a/b", "", ".hidden"], needle="experiment"),
    *_option_cases("--out", ["{file}", "{file}/sub", "{loop}"], needle=None),
]


@pytest.mark.parametrize(("case", "needle"), TRAIN_CASES)
def test_train(sandbox, case, needle):
    sandbox.refused([*TRAIN, *case], needle=needle)


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        pytest.param(["--loss", "offset_ce", "--loss-arg", "offset=NaN"], "offset", id="offset=NaN"),
        pytest.param(["--loss", "offset_ce", "--loss-arg", "offset=-1"], "offset", id="offset=-1"),
        pytest.param(["--loss", "offset_ce", "--loss-arg", "offset=Infinity"], "offset", id="offset=inf"),
        pytest.param(["--loss", "offset_ce", "--loss-arg", "temperature=0"], "temperature", id="temp=0"),
    ],
)
def test_train_loss_keywords(sandbox, case, needle):
    sandbox.refused([*TRAIN, *case], needle=needle)


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        *_option_cases("--experiment", ["../..", "/tmp", "{outside}", "a/../../.."], needle="experiment"),
        *_option_cases("--home", ["{file}"], needle="home"),
    ],
)
def test_runs(sandbox, case, needle, run_dir):
    fake = sandbox.outside / "target" / "fake-run"  # what listing the folder outside would show
    fake.mkdir()
    (fake / "manifest.json").write_text('{"status": "completed"}')
    sandbox.refused(["runs", *case], needle=needle)


SPECTRAL_CASES = [
    *_option_cases("--n-iter", ["0", "-1", "nan", "inf", "abc"]),
    *_option_cases("--method", ["nope"]),
    *_option_cases("--checkpoint", ["../../manifest.json", "", "missing.pt", "{file}"], needle="checkpoint"),
]
RUN_PATH_CASES = [
    *_option_cases("--run", ["{missing}", "{outside}", "{file}", "{loop}", "../..", "/", "", "{home}"], None)
]


@pytest.mark.parametrize(("case", "needle"), SPECTRAL_CASES + RUN_PATH_CASES)
def test_spectral(sandbox, run_dir, case, needle):
    sandbox.refused([*SPECTRAL, *case], run=run_dir, needle=needle)


HESSIAN_CASES = [
    *_option_cases("--k", ["0", "-1", "nan", "abc", HUGE]),
    *_option_cases("--which", ["XX", "la"]),
    *_option_cases("--trace-samples", ["0", "-1", "nan"]),
    *_option_cases("--density-runs", ["0", "abc"]),
    *_option_cases("--lanczos-steps", ["0", "inf"]),
    *_option_cases("--samples", ["0", "nan"]),
    *_option_cases("--batch-size", ["0", "-1"]),
    *_option_cases("--shard", ["2/2", "-1/2", "a/b", "1/0", "1", "0/-1"], needle="shard"),
    *_option_cases("--seed", ["-1", "nan"]),
    *_option_cases("--device", ["abc", "cuda:99"], needle="device"),
    *_option_cases("--checkpoint", ["../last.pt", "missing.pt"], needle="checkpoint"),
]


@pytest.mark.parametrize(("case", "needle"), HESSIAN_CASES + RUN_PATH_CASES)
def test_hessian(sandbox, run_dir, case, needle):
    sandbox.refused([*HESSIAN, *case], run=run_dir, needle=needle)


LANDSCAPE_CASES = [
    *_option_cases("--dims", ["0", "3", "abc"]),
    *_option_cases("--steps", ["0", "1", "-5", "nan", "abc"], needle="steps"),
    *[
        pytest.param(["--span", a, b], "span", id=f"--span={a},{b}")
        for a, b in [("nan", "1"), ("0", "nan"), ("0", "inf"), ("-inf", "0"), ("1", "0"), ("1", "1")]
    ],
    pytest.param(["--span", "abc", "1"], "--span", id="--span=abc,1"),
    pytest.param(["--span=0,inf"], "span", id="--span=0,inf(pair)"),
    pytest.param(["--span=-inf,nan"], "span", id="--span=-inf,nan(pair)"),
    pytest.param(["--span", "0", "1", "2"], "span", id="--span=three-values"),
    pytest.param(["--span=1e-3"], "span", id="--span=one-value"),
    *_option_cases("--normalization", ["nope"]),
    *_option_cases("--samples", ["0", "-1"]),
    *_option_cases("--split", ["val"]),
    *_option_cases("--batch-size", ["0"]),
    *_option_cases("--chunk-size", ["0", "-1", "nan"]),
    *_option_cases("--shard", ["3/3", "x", "1/0"], needle="shard"),
    *_option_cases("--seed", ["-1"]),
    *_option_cases("--device", ["abc"], needle="device"),
    *_option_cases("--checkpoint", ["../last.pt"], needle="checkpoint"),
]


@pytest.mark.parametrize(("case", "needle"), LANDSCAPE_CASES + RUN_PATH_CASES)
def test_landscape(sandbox, run_dir, case, needle):
    sandbox.refused([*LANDSCAPE, *case], run=run_dir, needle=needle)


CERTIFY_CASES = [
    *_option_cases("--sigma", ["nan", "inf", "-inf", "-1", "0", "abc"]),
    *_option_cases("--sigma", ["1e308"], needle=None),  # σ·noise overflows float32: non-finite inputs
    *_option_cases("--n0", ["0", "nan"]),
    *_option_cases("--n", ["0", "-1", "nan", "abc", "1e23"]),
    *_option_cases("--alpha", ["0", "1", "2", "nan", "inf", "-1", "abc"]),
    *_option_cases("--batch-size", ["0"]),
    *_option_cases("--every", ["0", "-2"]),
    *_option_cases("--limit", ["0"]),
    *_option_cases("--method", ["nope"]),
    *_option_cases("--shard", ["2/2", "a/b"], needle="shard"),
    *_option_cases("--radii", ["nan", "-1", "abc"], needle="radii"),
    *_option_cases("--seed", ["-1"]),
    *_option_cases("--device", ["abc"], needle="device"),
    *_option_cases("--checkpoint", ["../last.pt", "missing.pt"], needle="checkpoint"),
]


@pytest.mark.parametrize(("case", "needle"), CERTIFY_CASES + RUN_PATH_CASES)
def test_certify(sandbox, run_dir, case, needle):
    sandbox.refused([*CERTIFY, *case], run=run_dir, needle=needle)


@pytest.mark.parametrize("value", ["nan", "inf", "0", "-1", "abc"])
def test_certify_temperature(sandbox, run_dir, value):
    argv = [*CERTIFY, "--method", "lipschitz", "--temperature", value]
    sandbox.refused(argv, run=run_dir, needle="--temperature")


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        *_option_cases("--seed", ["-1", "nan"]),
        *_option_cases("--mode", ["fast"]),
        *_option_cases("--device", ["abc", "cuda:99", "meta"], needle="device"),
    ],
)
def test_demo(sandbox, case, needle):
    sandbox.refused(["demo", *case], needle=needle)


REPORT_CASES = [
    *_option_cases("--test-points", ["0", "-1", "nan", "abc"]),
    *_option_cases("--train-points", ["0", "inf"]),
    *_option_cases("--radii", ["nan", "-1", "inf", "abc"]),
    *_option_cases("--smoothing", ["nope"]),
    *_option_cases("--sigma", ["0", "nan", "inf", "abc"]),
    *_option_cases("--mode", ["fast"]),
    *_option_cases("--device", ["abc"], needle="device"),
    *_option_cases("--dataset", ["no-such-data"], needle="no-such-data"),
    *_option_cases("--out", ["{outside}/report.txt", "{outside}"], needle="--out"),
    *_option_cases("--model-config", ["{file}"], needle="--model-config"),
    *_option_cases("--checkpoint", ["../../manifest.json", "missing.pt"], needle="checkpoint"),
]


@pytest.mark.parametrize(("case", "needle"), REPORT_CASES + RUN_PATH_CASES)
def test_report(sandbox, run_dir, case, needle):
    sandbox.refused([*REPORT, *case], run=run_dir, needle=needle)


def test_report_negative_sigma_says_what_is_accepted(sandbox, run_dir):
    """0 is refused too, so the message must not claim that values >= 0 are accepted."""
    sandbox.refused([*REPORT, "--sigma", "-1"], run=run_dir, needle="--sigma", forbid=(">= 0",))


@pytest.mark.parametrize(
    "case",
    [
        pytest.param([], id="nothing"),
        pytest.param(["--checkpoint", "{random}"], id="checkpoint-without-config"),
        pytest.param(["--model-config", "{file}"], id="config-without-checkpoint"),
        pytest.param(["--checkpoint", "{random}", "--model-config", "{missing}"], id="missing-config"),
        pytest.param(["--checkpoint", "{missing}", "--model-config", "CONFIG"], id="missing-checkpoint"),
        pytest.param(["--checkpoint", "{random}", "--model-config", "CONFIG"], id="random-checkpoint"),
        pytest.param(["--checkpoint", "{outside}", "--model-config", "CONFIG"], id="checkpoint-is-dir"),
        pytest.param(["--checkpoint", "{loop}", "--model-config", "CONFIG"], id="checkpoint-loop"),
        pytest.param(["--checkpoint", "CKPT", "--model-config", "{random}"], id="random-config"),
        pytest.param(["--checkpoint", "CKPT", "--model-config", "{outside}"], id="config-is-dir"),
        pytest.param(["--checkpoint", "CKPT", "--model-config", "LIST"], id="config-json-list"),
        pytest.param(["--checkpoint", "CKPT", "--model-config", "TRUNCATED"], id="config-truncated"),
        pytest.param(["--checkpoint", "CKPT", "--model-config", "NONAME"], id="config-unknown-model"),
        pytest.param(["--checkpoint", "CKPT", "--model-config", "CONFIG", "--dataset", "nope"], id="dataset"),
    ],
)
def test_report_bare_checkpoint(sandbox, run_dir, case):
    """``report --checkpoint FILE --model-config FILE``: every file is user input."""
    import json

    ckpt = run_dir / "checkpoints" / "last.pt"
    config = json.loads((run_dir / "manifest.json").read_text())["config"]
    files = {"CKPT": str(ckpt), "CONFIG": str(sandbox.home / "config.json")}
    (sandbox.home / "config.json").write_text(json.dumps(config))
    for name, text in [
        ("LIST", "[1, 2]"),
        ("TRUNCATED", json.dumps(config)[:40]),
        ("NONAME", json.dumps({**config, "model": {**config["model"], "name": "no-such-model"}})),
    ]:
        (sandbox.home / f"{name}.json").write_text(text)
        files[name] = str(sandbox.home / f"{name}.json")
    argv = ["report", *[files.get(a, a) for a in case], "--test-points", "4", "--train-points", "32"]
    sandbox.refused([*argv, "--device", "cpu", "--no-progress"])


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        *_option_cases("--chapter", ["0", "99", "-1", "abc", "nan"]),
        *_option_cases("--cell-timeout", ["0", "-1", "nan", "inf", "abc"]),
        *_option_cases("--mode", ["fast"]),
    ],
)
def test_reproduce(sandbox, case, needle):
    sandbox.refused(["reproduce", *case, "--no-progress"], needle=needle)


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        *_option_cases("--port", ["0", "-1", "65536", "abc", "nan", "1e308", "1.5", HUGE]),
        *_option_cases("--host", ["", "a b"]),
    ],
)
def test_dashboard(sandbox, case, needle):
    sandbox.refused(["dashboard", "--no-warmup", *case], needle=needle)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["frobnicate"], id="unknown-command"),
        pytest.param(["--frobnicate"], id="unknown-option"),
        pytest.param(["train", "--epochs"], id="missing-value"),
        pytest.param(["certify", "--sigma", "0.5"], id="missing-run"),
        pytest.param(["spectral"], id="spectral-without-run"),
    ],
)
def test_usage_errors(sandbox, argv):
    outcome = sandbox.run(argv)
    assert outcome.code == 2 and len(outcome.lines) == 1, outcome.describe()
    assert "Traceback" not in outcome.stderr, outcome.describe()
