"""Resource limits: estimates above the limit are refused with the argument's name."""

import pytest

from stablecore.limits import check_memory, check_work, format_bytes, max_memory, max_work


def test_memory_limit_from_environment(monkeypatch):
    monkeypatch.setenv("STABLECORE_MAX_MEMORY", "2G")
    assert max_memory() == 2 * 2**30
    check_memory(2 * 2**30, argument="--steps", what="the grid")
    with pytest.raises(ValueError, match=r"--steps: the grid would need about 2 GiB.*STABLECORE_MAX_MEMORY"):
        check_memory(2 * 2**30 + 1, argument="--steps", what="the grid")


@pytest.mark.parametrize("text", ["lots", "-1G", "0", "1X"])
def test_bad_memory_setting_is_refused(monkeypatch, text):
    monkeypatch.setenv("STABLECORE_MAX_MEMORY", text)
    with pytest.raises(ValueError, match="STABLECORE_MAX_MEMORY"):
        max_memory()


def test_default_memory_limit_is_positive(monkeypatch):
    monkeypatch.delenv("STABLECORE_MAX_MEMORY", raising=False)
    assert max_memory() > 0


def test_nan_and_inf_estimates_are_refused():
    with pytest.raises(ValueError, match="size"):
        check_memory(float("nan"), argument="size", what="x", limit=10)
    with pytest.raises(ValueError, match="--n"):
        check_work(float("inf"), argument="--n", what="x", limit=10)


def test_work_limit(monkeypatch):
    monkeypatch.setenv("STABLECORE_MAX_WORK", "1000")
    assert max_work() == 1000
    check_work(1000, argument="--n", what="sampling")
    with pytest.raises(ValueError, match=r"--n: sampling would need 1\.1e\+03"):
        check_work(1100, argument="--n", what="sampling")
    monkeypatch.setenv("STABLECORE_MAX_WORK", "none")
    with pytest.raises(ValueError, match="STABLECORE_MAX_WORK"):
        max_work()


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(7 * 2**40) == "7 TiB"
