"""stablecore dashboard: ``stablecore dashboard`` (or ``streamlit run dashboard/app.py``).

Four pages (``st.navigation``, one file each in ``views/``), at ``/boundaries``, ``/landscape``,
``/spectral`` and ``/runs``; the root URL ``/`` forwards to ``/boundaries`` with its query parameters.
The whole state of a page lives in the URL query parameters, so a view can be shared and reloads
identically.

The page files are *not* in a folder named ``pages/``: next to the main script, that name switches a
Streamlit server to its legacy multipage mode (``PagesManager.uses_pages_directory``), which lists the
files in the sidebar and runs a page opened by URL without this script (so without ``st.navigation``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the pages import app_common
    sys.path.insert(0, str(HERE))

st.set_page_config(page_title="stablecore dashboard", page_icon="📐", layout="wide")

BOUNDARIES = st.Page(
    "views/1_boundaries.py", title="Decision boundaries & certified radii", url_path="boundaries"
)
PAGES = [
    BOUNDARIES,
    st.Page("views/2_landscape.py", title="Loss landscape & curvature", url_path="landscape"),
    st.Page("views/3_spectral.py", title="Spectral norms", url_path="spectral"),
    st.Page("views/4_runs.py", title="Runs", url_path="runs"),
]


def _home() -> None:
    """``/``: forward to the first page, keeping the query parameters (a shared view reloads)."""
    st.switch_page(BOUNDARIES, query_params=st.query_params.to_dict())


HOME = st.Page(_home, title="Home", url_path="home", default=True, visibility="hidden")

page = st.navigation([HOME, *PAGES])
st.sidebar.caption("stablecore: stability of neural networks (B. Delattre's thesis, reproduced)")
page.run()
