"""stablecore dashboard: ``stablecore dashboard`` (or ``streamlit run dashboard/app.py``).

Four pages (``st.navigation``, one file each in ``pages/``), each at its own URL path; the whole state
of a page lives in the URL query parameters, so a view can be shared and reloads identically.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # the pages import app_common
    sys.path.insert(0, str(HERE))

st.set_page_config(page_title="stablecore dashboard", page_icon="📐", layout="wide")

PAGES = [
    st.Page(
        "pages/1_boundaries.py",
        title="Decision boundaries & certified radii",
        url_path="boundaries",
        default=True,
    ),
    st.Page("pages/2_landscape.py", title="Loss landscape & curvature", url_path="landscape"),
    st.Page("pages/3_spectral.py", title="Spectral norms", url_path="spectral"),
    st.Page("pages/4_runs.py", title="Runs", url_path="runs"),
]

page = st.navigation(PAGES)
st.sidebar.caption("stablecore: stability of neural networks (B. Delattre's thesis, reproduced)")
page.run()
