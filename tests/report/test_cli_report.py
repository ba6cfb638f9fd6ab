"""``stablecore report``: from a run and from a bare checkpoint + model config, the same numbers as the
library; bad arguments give one line on stderr and exit code 2."""

import json
import re
import subprocess
import sys

import pytest

from stablecore.cli.main import main
from stablecore.report import ReportSettings, build_report, inputs_from_run

FAST = [
    "--test-points",
    "12",
    "--train-points",
    "32",
    "--radii",
    "0",
    "0.5",
    "--device",
    "cpu",
    "--no-progress",
]


def test_report_from_a_run_and_from_a_checkpoint(digits_runs, tmp_path, capsys):
    run = digits_runs["mlp"].run
    out = tmp_path / "from-run.html"
    assert main(["report", "--run", str(run.path), "--out", str(out), *FAST]) == 0
    printed = capsys.readouterr().out
    assert "≤ L ≤" in printed and f"report written to {out}" in printed
    text = out.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\ssrc\s*=", text, flags=re.I)
    # the CLI's numbers are build_report's with the same settings
    inputs = inputs_from_run(run.path)
    settings = ReportSettings.preset("quick", test_points=12, train_points=32, radii=(0.0, 0.5))
    report = build_report(
        inputs.model, inputs.data, loss_fn=inputs.loss_fn, settings=settings, progress=False
    )
    upper = report.number("lipschitz_upper_bound")
    assert f"{upper:.4g} (upper_bound)" in printed
    assert f"{report.number('looseness'):.6g}" in text
    # a bare checkpoint with its config (a run config: it names the data set and the loss)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(run.manifest["config"]), encoding="utf-8")
    ckpt = run.checkpoint_path("last.pt")
    out2 = tmp_path / "from-ckpt.html"
    argv = ["report", "--checkpoint", str(ckpt), "--model-config", str(config), "--out", str(out2), *FAST]
    assert main(argv) == 0
    assert f"{upper:.4g} (upper_bound)" in capsys.readouterr().out
    assert f"{report.number('looseness'):.6g}" in out2.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--run RUN, or --checkpoint FILE"),
        (["--checkpoint", "x.pt"], "--model-config"),
        (["--run", "{run}", "--model-config", "c.json"], "--model-config goes with --checkpoint"),
        (["--run", "{run}", "--out", "r.txt"], "--out must end in .html"),
        (["--run", "{tmp}/missing"], "is not a directory"),
        (["--run", "{run}", "--checkpoint", "best.pt"], "best.pt"),
        (["--checkpoint", "{tmp}/none.pt", "--model-config", "{tmp}/c.json"], "does not exist"),
        (["--checkpoint", "{ckpt}", "--model-config", "{tmp}/bad.json"], "not valid JSON"),
        (["--checkpoint", "{ckpt}", "--model-config", "{tmp}/model.json"], "names no data set"),
        (
            ["--checkpoint", "{ckpt}", "--model-config", "{tmp}/model.json", "--dataset", "nope"],
            "unknown data set",
        ),
        (["--checkpoint", "{tmp}/bad.json", "--model-config", "{tmp}/config.json"], "weights_only"),
        (["--run", "{run}", "--radii", "-1"], "--radii"),
        (["--run", "{run}", "--test-points", "0"], "--test-points"),
        (["--run", "{run}", "--smoothing", "maybe"], "--smoothing"),
    ],
)
def test_bad_arguments_give_one_line(digits_runs, tmp_path, capsys, extra, message):
    run = digits_runs["mlp"].run
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "model.json").write_text(json.dumps(run.manifest["config"]["model"]), encoding="utf-8")
    (tmp_path / "config.json").write_text(json.dumps(run.manifest["config"]), encoding="utf-8")
    values = {"run": str(run.path), "tmp": str(tmp_path), "ckpt": str(run.checkpoint_path("last.pt"))}
    argv = ["report", *(a.format(**values) for a in extra), "--device", "cpu", "--no-progress"]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse refuses a value before the command runs
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stablecore.cli.main", "report", *argv],
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("sigma", ["-1", "0", "nan", "inf", "1e999", "-0.0"])
def test_sigma_message_agrees_with_its_check(tmp_path, sigma):
    """σ must be > 0 (σ = 0 is refused, and the message said ">= 0"); NaN and inf are refused too."""
    proc = _cli("--run", str(tmp_path), "--sigma", sigma, "--no-progress")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    hint = "(to leave randomized smoothing out use --smoothing never)"
    assert f"argument --sigma: expected a finite number > 0 {hint}, got {sigma!r}" in line
    assert ">= 0" not in line and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--radii", "nan", "expected a finite number >= 0, got 'nan'"),
        ("--radii", "1e999", "expected a finite number >= 0, got '1e999'"),
        ("--test-points", "inf", "expected an integer >= 1, got 'inf'"),
        ("--train-points", "nan", "expected an integer >= 1, got 'nan'"),
        ("--seed", "nan", "expected an integer >= 0, got 'nan'"),
    ],
)
def test_other_numeric_options_refuse_non_finite_values(capsys, option, value, expected):
    with pytest.raises(SystemExit) as info:
        main(["report", "--run", "x", option, value])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert f"argument {option}: {expected}" in line
