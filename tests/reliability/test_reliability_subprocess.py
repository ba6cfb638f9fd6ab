"""The real ``stablecore`` entry point (``python -m stablecore.cli.main``) in a subprocess: at least one
malformed case per command, every case that could hang or allocate without bound if it were accepted
(huge step counts, sample counts, widths: refused by an estimate before allocating, issue 22 item 7),
crashes inside the library (devices torch cannot use, a diverging learning rate), malformed run files
and environment variables. Each must end with exit code 2, one line on stderr, no traceback, nothing
written outside the store, within the timeout (a hang fails the case instead of blocking the suite).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from reliability_commands import CERTIFY, HESSIAN, HUGE, LANDSCAPE, REPORT, SPECTRAL, TRAIN

WORK_TIMEOUT = 60  # cases that run (nearly) forever when accepted by mistake


class TestTrain:
    @pytest.mark.parametrize(
        ("case", "needle"),
        [
            pytest.param(["--epochs", "0"], "--epochs", id="epochs-0"),
            pytest.param(["--device", "meta"], "device", id="device-meta"),
            pytest.param(["--device", "mps"], "device", id="device-mps"),
            pytest.param(["--out", "{file}"], None, id="out-is-a-file"),
            pytest.param(["--model-arg", "hidden=[100000000,100000000]"], None, id="huge-width"),
            pytest.param(["--model-arg", f"hidden=[{HUGE}]"], None, id="width-overflows-int64"),
            pytest.param(["--resume", "{missing}"], None, id="resume-missing"),
        ],
    )
    def test_refused(self, sandbox, case, needle):
        sandbox.refused([*TRAIN, *case], needle=needle, subprocess=True)

    @pytest.mark.parametrize("lr", ["inf", "1e308"])
    def test_diverging_lr_says_only_what_is_true(self, sandbox, lr):
        """Issue 22 items 8-9: the loss becomes NaN in the first epoch; the one-line error may point at
        a checkpoint only if that file exists; the run is marked failed, not left running."""
        outcome = sandbox.refused([*TRAIN, "--lr", lr], subprocess=True)
        for path in re.findall(r"(/\S+\.pt)\b", outcome.stderr):
            assert Path(path).is_file(), f"the error names {path}, which does not exist: {outcome.stderr}"

    def test_huge_epoch_count(self, sandbox):
        """10³⁰ epochs of two-moons: the work is estimated and refused, not started."""
        sandbox.refused([*TRAIN, "--epochs", HUGE], subprocess=True, timeout=WORK_TIMEOUT)

    @pytest.mark.parametrize(
        ("env", "needle"),
        [
            pytest.param({"STABLECORE_MODE": "fast"}, "STABLECORE_MODE", id="mode-env"),
            pytest.param({"STABLECORE_HOME": "{file}"}, None, id="home-is-a-file"),
        ],
    )
    def test_malformed_environment(self, sandbox, env, needle):
        env = {k: sandbox.expand([v])[0] for k, v in env.items()}
        sandbox.refused(TRAIN, env=env, needle=needle, subprocess=True)

    @pytest.mark.parametrize(
        "case",
        [
            pytest.param(["--out", "{file}"], id="out-is-a-file"),
            pytest.param(["--device", "meta"], id="device-meta"),
        ],
    )
    def test_demo(self, sandbox, case):
        sandbox.refused(["demo", *case], subprocess=True)


class TestInspect:
    @pytest.mark.parametrize(
        ("case", "needle"),
        [
            pytest.param(["--experiment", "../.."], "experiment", id="experiment-dot-dot"),
            pytest.param(["--home", "{file}"], "home", id="home-is-a-file"),
        ],
    )
    def test_runs(self, sandbox, run_dir, case, needle):
        sandbox.refused(["runs", *case], needle=needle, subprocess=True)

    @pytest.mark.parametrize(
        ("case", "breakage"),
        [
            pytest.param(["--run", "{missing}"], None, id="run-missing"),
            pytest.param([], "random_bytes", id="checkpoint-random-bytes"),
            pytest.param([], "unsafe_pickle", id="checkpoint-unsafe-pickle"),
            pytest.param([], "symlink_outside", id="checkpoint-symlink-outside"),
            pytest.param([], "huge_width", id="checkpoint-config-huge-width"),
        ],
    )
    def test_spectral(self, sandbox, run_dir, case, breakage):
        if breakage:
            sandbox.break_checkpoint(run_dir, breakage)
        sandbox.refused([*SPECTRAL, *case], run=run_dir, subprocess=True)

    def test_spectral_save_into_symlinked_tables(self, sandbox, run_dir):
        (run_dir / "tables").rename(run_dir / "tables-moved")
        (run_dir / "tables").symlink_to(sandbox.outside / "target", target_is_directory=True)
        sandbox.refused([*SPECTRAL, "--save"], run=run_dir, subprocess=True)

    @pytest.mark.parametrize(
        ("case", "breakage", "timeout"),
        [
            pytest.param(["--k", "0"], None, 120, id="k-0"),
            pytest.param(["--trace", "--trace-samples", HUGE], None, WORK_TIMEOUT, id="huge-trace-samples"),
            pytest.param(["--density", "--density-runs", HUGE], None, WORK_TIMEOUT, id="huge-density-runs"),
            pytest.param([], "list_valued", 120, id="checkpoint-list-valued"),
        ],
    )
    def test_hessian(self, sandbox, run_dir, case, breakage, timeout):
        if breakage:
            sandbox.break_checkpoint(run_dir, breakage)
        sandbox.refused([*HESSIAN, *case], run=run_dir, subprocess=True, timeout=timeout)


class TestLandscapeCertify:
    @pytest.mark.parametrize(
        ("case", "breakage", "timeout"),
        [
            pytest.param(["--span", "0", "inf"], None, 120, id="span-inf"),
            pytest.param(["--dims", "2", "--steps", "1000000"], None, WORK_TIMEOUT, id="plane-1e12-points"),
            pytest.param(["--steps", HUGE], None, WORK_TIMEOUT, id="steps-1e30"),
            pytest.param([], "truncated", 120, id="checkpoint-truncated"),
        ],
    )
    def test_landscape(self, sandbox, run_dir, case, breakage, timeout):
        if breakage:
            sandbox.break_checkpoint(run_dir, breakage)
        sandbox.refused([*LANDSCAPE, *case], run=run_dir, subprocess=True, timeout=timeout)

    @pytest.mark.parametrize(
        ("case", "timeout"),
        [
            pytest.param(["--sigma", "nan"], 120, id="sigma-nan"),
            pytest.param(["--n", str(10**23)], WORK_TIMEOUT, id="n-1e23"),
            pytest.param(["--n0", str(10**23)], WORK_TIMEOUT, id="n0-1e23"),
        ],
    )
    def test_certify(self, sandbox, run_dir, case, timeout):
        sandbox.refused([*CERTIFY, *case], run=run_dir, subprocess=True, timeout=timeout)

    def test_certify_nan_model(self, sandbox, run_dir):
        """Issue 22 item 1, through the console script: a model with NaN logits is not certified."""
        sandbox.break_checkpoint(run_dir, "nan_weights")
        sandbox.refused(CERTIFY, run=run_dir, subprocess=True)

    def test_certify_table_without_index(self, sandbox, run_dir):
        import pandas as pd

        pd.DataFrame({"prediction": [0], "radius": [0.5]}).to_parquet(
            run_dir / "tables" / "certify-cohen.parquet"
        )
        sandbox.refused(CERTIFY, run=run_dir, subprocess=True)

    def test_certify_into_symlinked_tables(self, sandbox, run_dir):
        (run_dir / "tables").rename(run_dir / "tables-moved")
        (run_dir / "tables").symlink_to(sandbox.outside / "target", target_is_directory=True)
        sandbox.refused(CERTIFY, run=run_dir, subprocess=True)


class TestReportReproduceDashboard:
    @pytest.mark.parametrize(
        ("case", "needle"),
        [
            pytest.param(["--sigma", "-1"], "--sigma", id="sigma-negative"),
            pytest.param(["--out", "{outside}/report.txt"], "--out", id="out-not-html"),
        ],
    )
    def test_report(self, sandbox, run_dir, case, needle):
        sandbox.refused([*REPORT, *case], run=run_dir, needle=needle, subprocess=True)

    def test_report_bare_checkpoint_with_list_config(self, sandbox, run_dir):
        config = sandbox.home / "config.json"
        config.write_text("[1, 2, 3]")
        argv = ["report", "--checkpoint", str(run_dir / "checkpoints" / "last.pt"), "--model-config"]
        sandbox.refused([*argv, str(config), "--no-progress", "--device", "cpu"], subprocess=True)

    @pytest.mark.parametrize(
        ("case", "timeout"),
        [
            pytest.param(["--chapter", "99"], 120, id="chapter-99"),
            pytest.param(["--chapter", "1", "--out", "{file}"], WORK_TIMEOUT, id="out-is-a-file"),
        ],
    )
    def test_reproduce(self, sandbox, case, timeout):
        sandbox.refused(["reproduce", *case, "--no-progress"], subprocess=True, timeout=timeout)

    @pytest.mark.parametrize(
        "case",
        [
            pytest.param(["--port", "70000"], id="port-out-of-range"),
            pytest.param(["--host", "a b"], id="host-with-space"),
        ],
    )
    def test_dashboard(self, sandbox, case):
        sandbox.refused(["dashboard", "--no-warmup", *case], subprocess=True, timeout=60)

    def test_unknown_command(self, sandbox):
        outcome = sandbox.run(["frobnicate"], subprocess=True)
        assert outcome.code == 2 and len(outcome.lines) == 1, outcome.describe()
        assert "Traceback" not in outcome.stderr, outcome.describe()
