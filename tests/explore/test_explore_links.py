"""Dashboard links: every view's declared query parameters, links built and read back, bad values refused
with the key named, and every dashboard link written in the notebooks and docs valid."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stablecore.explore import (
    DASHBOARD_URL,
    EMBEDDED_MODELS,
    VIEW_PARAMS,
    dashboard_url,
    parse_dashboard_url,
    view_keys,
)
from stablecore.explore.params import parse_param

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"http://(?:127\.0\.0\.1|localhost):8501/[^\s)\]>\"'`]*")


def _non_default(p):
    """A value of parameter ``p`` other than its default that the page accepts."""
    if p.choice == "model":
        return f"embedded:{list(EMBEDDED_MODELS)[-1]}"
    if p.options is not None and not isinstance(p.default, tuple):
        return next(o for o in reversed(p.options) if o != p.default)
    if isinstance(p.default, tuple):
        return list(p.options[:2])
    if isinstance(p.default, bool):
        return not p.default
    if isinstance(p.default, (int, float)):
        return type(p.default)(p.hi if p.hi is not None else p.default + 1)
    return "some text"


@pytest.mark.parametrize("view", list(VIEW_PARAMS))
def test_every_parameter_round_trips(view):
    values = {p.key: _non_default(p) for p in VIEW_PARAMS[view]}
    url = dashboard_url(view, **values)
    assert url.startswith(f"{DASHBOARD_URL}/{view}?")
    got_view, got = parse_dashboard_url(url)
    assert got_view == view and got == values
    assert view_keys(view) == tuple(values)


@pytest.mark.parametrize("view", list(VIEW_PARAMS))
def test_defaults_are_accepted_values(view):
    for p in VIEW_PARAMS[view]:
        text = ",".join(p.default) if isinstance(p.default, tuple) else str(p.default)
        value = p.parse(text)
        assert value == (list(p.default) if isinstance(p.default, tuple) else p.default)


def test_link_without_parameters_and_other_base():
    assert dashboard_url("runs") == f"{DASHBOARD_URL}/runs"
    assert dashboard_url("spectral", base="http://example.org:9000/", sp_iters=3) == (
        "http://example.org:9000/spectral?sp_iters=3"
    )
    assert parse_dashboard_url("http://127.0.0.1:8501/runs") == ("runs", {})


def test_text_is_percent_encoded_and_readable():
    url = dashboard_url("boundaries", disks="Cohen RS", lvm=False)
    assert url.endswith("?disks=Cohen%20RS&lvm=false")
    assert "ls_model=embedded:digits-mlp" in dashboard_url("landscape", ls_model="embedded:digits-mlp")
    assert parse_dashboard_url(dashboard_url("runs", runs_filter="a&b=c"))[1] == {"runs_filter": "a&b=c"}


@pytest.mark.parametrize(
    ("view", "params", "match"),
    [
        ("nowhere", {}, "view must be one of"),
        ("boundaries", {"sp_iters": 3}, "no query parameter 'sp_iters'"),
        ("boundaries", {"offset": 3.5}, "'offset' must be in"),
        ("boundaries", {"offset": float("nan")}, "'offset' must be a finite"),
        ("boundaries", {"sigma": float("inf")}, "'sigma' must be a finite"),
        ("boundaries", {"family": "resnet"}, "'family' must be one of"),
        ("boundaries", {"n": 300}, "'n' must be one of"),
        ("boundaries", {"epochs": 2.5}, "'epochs' must be an integer"),
        ("boundaries", {"lvm": "maybe"}, "'lvm' must be true or false"),
        ("landscape", {"ls_model": "embedded:nope"}, "'ls_model' must be one of"),
        ("landscape", {"ls_model": "run:"}, "'ls_model' must be one of"),
        ("spectral", {"sp_iters": 0}, "'sp_iters' must be in"),
    ],
)
def test_bad_links_are_refused_with_the_key_named(view, params, match):
    with pytest.raises(ValueError, match=match):
        dashboard_url(view, **params)


def test_bad_base_and_bad_urls():
    with pytest.raises(ValueError, match="base must be an http"):
        dashboard_url("runs", base="ftp://x")
    with pytest.raises(TypeError, match="url must be a string"):
        parse_dashboard_url(None)
    with pytest.raises(ValueError, match="view must be one of"):
        parse_dashboard_url("http://127.0.0.1:8501/nowhere?x=1")
    with pytest.raises(ValueError, match="'offset' is repeated"):
        parse_dashboard_url("http://127.0.0.1:8501/boundaries?offset=1&offset=2")
    with pytest.raises(ValueError, match="no query parameter 'bogus'"):
        parse_dashboard_url("http://127.0.0.1:8501/boundaries?bogus=1")
    with pytest.raises(ValueError, match="'epochs' must be in"):
        parse_dashboard_url("http://127.0.0.1:8501/boundaries?epochs=99")


@settings(max_examples=60, deadline=None)
@given(offset=st.floats(0.0, 3.0, allow_nan=False), seed=st.integers(0, 9999), lvm=st.booleans())
def test_numbers_round_trip_exactly(offset, seed, lvm):
    _, got = parse_dashboard_url(dashboard_url("boundaries", offset=offset, seed=seed, lvm=lvm))
    assert got == {"offset": offset, "seed": seed, "lvm": lvm}


def test_view_params_agree_with_the_parser():
    """Each declared parameter refuses what its widget could not hold (same rules as parse_param)."""
    for params in VIEW_PARAMS.values():
        for p in params:
            if isinstance(p.default, (int, float)) and not isinstance(p.default, bool) and p.hi is not None:
                with pytest.raises(ValueError, match=p.key):
                    p.parse(str(type(p.default)(p.hi + 1)))
                assert p.parse(str(p.hi)) == parse_param(p.key, str(p.hi), p.default, lo=p.lo, hi=p.hi)


def _documents():
    for path in sorted((REPO / "notebooks").glob("**/*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        yield path, "\n".join("".join(c["source"]) for c in cells)
    for path in sorted((REPO / "docs").glob("**/*.md")):
        yield path, path.read_text(encoding="utf-8")
    yield REPO / "README.md", (REPO / "README.md").read_text(encoding="utf-8")


def test_every_dashboard_link_in_notebooks_and_docs_is_valid():
    """A link a student clicks opens the view with exactly the state it names (no silent default)."""
    checked = 0
    linked_notebooks = set()
    for path, text in _documents():
        for url in LINK.findall(text):
            url = url.rstrip(".,;:")
            if url.rstrip("/") in (DASHBOARD_URL, "http://localhost:8501"):
                continue  # the bare server address
            try:
                parse_dashboard_url(url)
            except ValueError as err:
                raise AssertionError(f"{path.relative_to(REPO)}: {url}: {err}") from None
            checked += 1
            if path.suffix == ".ipynb":
                linked_notebooks.add(path.stem[:4])
    # Every chapter notebook's exercises link the view that shows the same thing (issue contract).
    assert linked_notebooks == {f"ch0{k}" for k in range(1, 7)}, sorted(linked_notebooks)
    assert checked >= 12, f"only {checked} dashboard links found"
