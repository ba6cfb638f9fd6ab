"""The dashboard's URL state in one place: every view's query parameters (default, choices, range) and
shareable links to a view with its state prefilled.

The Streamlit pages initialise their widgets from :data:`VIEW_PARAMS` (``dashboard/app_common.py``), and
notebooks, docs and the CLI build links with :func:`dashboard_url`, so a link can only name a parameter
a page reads, with a value the page accepts (the same :func:`~stablecore.explore.params.parse_param`
rules). :func:`parse_dashboard_url` reads such a link back (tests check every link in the notebooks).

Example:
    >>> dashboard_url("boundaries", family="sll", offset=2.0)
    'http://127.0.0.1:8501/boundaries?family=sll&offset=2.0'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from stablecore.explore.models import EMBEDDED_MODELS, FAMILIES
from stablecore.explore.params import parse_param

__all__ = [
    "DASHBOARD_URL",
    "VIEW_PARAMS",
    "ViewParam",
    "dashboard_url",
    "parse_dashboard_url",
    "view_keys",
]

#: Where ``make run`` / ``stablecore dashboard`` serves the dashboard by default.
DASHBOARD_URL = "http://127.0.0.1:8501"
#: The picker value of a model (embedded spec or stored run): ``embedded:<name>`` or ``run:<path>``.
_MODEL = "model"


@dataclass(frozen=True)
class ViewParam:
    """One query parameter of a dashboard view: its widget key, default (whose type is the parameter's
    type), allowed ``options`` (None: any value of the type), inclusive range ``[lo, hi]`` for numbers,
    and ``choice``: ``"model"`` for a model picker whose options exist only at run time (embedded models
    and stored runs), validated by form."""

    key: str
    default: Any
    options: tuple[Any, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    choice: str | None = None

    def parse(self, raw: Any) -> Any:
        """The typed value of the text ``raw``; ``ValueError`` naming the key if a page would refuse it."""
        value = parse_param(self.key, raw, self.default, self.options, lo=self.lo, hi=self.hi)
        if self.choice == _MODEL:
            _check_model_choice(self.key, value)
        return value


def _check_model_choice(key: str, value: Any) -> None:
    kind, _, name = str(value).partition(":")
    if kind == "embedded" and name in EMBEDDED_MODELS:
        return
    if kind == "run" and name.strip():
        return
    embedded = [f"embedded:{k}" for k in EMBEDDED_MODELS]
    raise ValueError(f"query parameter {key!r} must be one of {embedded} or run:<path>, got {value!r}")


_FIRST_MODEL = f"embedded:{next(iter(EMBEDDED_MODELS))}"
_NO_MODEL = "(none)"
_STATUSES = ("completed", "running", "failed", "interrupted", "incomplete")
_SORTS = ("start_time", "experiment", "status", "dataset", "model", "test_accuracy")

#: Every view's query parameters, in the order the page declares its widgets.
VIEW_PARAMS: Mapping[str, tuple[ViewParam, ...]] = {
    "boundaries": (
        ViewParam("dataset", "moons", ("moons", "circles", "spirals", "blobs")),
        ViewParam("family", "mlp", FAMILIES),
        ViewParam("epochs", 15, lo=1, hi=60),
        ViewParam("offset", 0.0, lo=0.0, hi=3.0),
        ViewParam("train_sigma", 0.25, lo=0.05, hi=1.0),
        ViewParam("seed", 0, lo=0, hi=9999),
        ViewParam("sigma", 0.25, lo=0.05, hi=1.0),
        ViewParam("n", 500, (200, 500, 1000, 5000)),
        ViewParam("lvm", True),
        ViewParam("disks", "Lipschitz margin", ("Lipschitz margin", "Cohen RS", "LVM-RS")),
    ),
    "landscape": (
        ViewParam("ls_model", _FIRST_MODEL, choice=_MODEL),
        ViewParam("ls_compare", _NO_MODEL),
        ViewParam("ls_path", ""),
        ViewParam("ls_dims", "1-D", ("1-D", "2-D")),
        ViewParam("ls_view", "contour", ("contour", "surface")),
        ViewParam("ls_steps", 21, lo=5, hi=61),
        ViewParam("ls_span", 1.0, lo=0.1, hi=5.0),
        ViewParam("ls_log", False),
        ViewParam("ls_seed", 0, lo=0, hi=9999),
        ViewParam("ls_hessian", True),
        ViewParam("ls_k", 3, lo=1, hi=10),
        ViewParam("ls_along", False),
    ),
    "spectral": (
        ViewParam("sp_model", _FIRST_MODEL, choice=_MODEL),
        ViewParam("sp_path", ""),
        ViewParam("sp_iters", 8, lo=1, hi=15),
        ViewParam("sp_power", 30, lo=1, hi=200),
    ),
    "runs": (
        ViewParam("runs_filter", ""),
        ViewParam("runs_status", _STATUSES, _STATUSES),
        ViewParam("runs_sort", "start_time", _SORTS),
        ViewParam("runs_desc", True),
        ViewParam("runs_path", ""),
        ViewParam("runs_run", ""),
    ),
}


def _quote(text: str, *_: Any) -> str:
    """Percent-encoding that keeps ``:`` and ``,`` readable (``embedded:moons-mlp``, lists)."""
    return quote(text, safe=":,")


def _view_params(view: Any) -> dict[str, ViewParam]:
    if not isinstance(view, str) or view not in VIEW_PARAMS:
        raise ValueError(f"view must be one of {list(VIEW_PARAMS)}, got {view!r}")
    return {p.key: p for p in VIEW_PARAMS[view]}


def _text(value: Any) -> str:
    """A value as the page writes it to the URL (``str``; lists comma-separated; floats finite)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # refused by parse_param below, with the key named
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def dashboard_url(view: str, *, base: str = DASHBOARD_URL, **params: Any) -> str:
    """A link to dashboard ``view`` with the widgets named by ``params`` prefilled (others at default).

    Args:
        view: one of :data:`VIEW_PARAMS` (``boundaries``, ``landscape``, ``spectral``, ``runs``).
        base: the server's address, default :data:`DASHBOARD_URL` (``make run``).
        params: widget key = value, validated exactly as the page validates its URL.

    Returns:
        ``<base>/<view>?key=value&...`` (query text percent-encoded, keys in the order given).

    Raises:
        ValueError: an unknown view or key, or a value the page would refuse (the key is named).
    """
    known = _view_params(view)
    if not isinstance(base, str) or not base.startswith(("http://", "https://")):
        raise ValueError(f"base must be an http(s) URL, got {base!r}")
    query = []
    for key, value in params.items():
        if key not in known:
            raise ValueError(f"{view!r} has no query parameter {key!r}; known: {list(known)}")
        text = _text(value)
        known[key].parse(text)
        query.append((key, text))
    url = f"{base.rstrip('/')}/{view}"
    return f"{url}?{urlencode(query, quote_via=_quote)}" if query else url


def parse_dashboard_url(url: str) -> tuple[str, dict[str, Any]]:
    """The view and the typed values of a link made by :func:`dashboard_url` (or typed by hand).

    Raises:
        ValueError: not a link to a view, an unknown key, a repeated key or a refused value.
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a string, got {type(url).__name__}")
    parts = urlsplit(url)
    view = parts.path.strip("/")
    known = _view_params(view)
    values: dict[str, Any] = {}
    for key, raw in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)):
        if key not in known:
            raise ValueError(f"{view!r} has no query parameter {key!r}; known: {list(known)}")
        if key in values:
            raise ValueError(f"query parameter {key!r} is repeated in {url!r}")
        values[key] = known[key].parse(raw)
    return view, values


def view_keys(view: str) -> Sequence[str]:
    """The query-parameter keys of ``view``, in declaration order."""
    return tuple(_view_params(view))
