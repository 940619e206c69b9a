"""Sphinx configuration of the pdfinfer documentation.

Build: ``make docs`` (``sphinx-build -W --keep-going -b html docs docs/_build/html`` in the
project's virtual environment). Pages are Markdown (MyST); the API reference is generated from
the docstrings of every module of ``src/pdfinfer`` (``docs/api.md``).
"""

from __future__ import annotations

import os
import sys

# Document the code of this checkout, whichever pdfinfer is installed in the environment.
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "src"))

import pdfinfer  # the checkout's package (after the path insertion above)

project = "pdfinfer"
author = "the pdfinfer authors"
copyright = "2024-2026, the pdfinfer authors"
release = pdfinfer.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates"]
templates_path = ["_templates"]

# ---------------------------------------------------------------- MyST (Markdown pages)
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
# Anchors for headings down to level 3, so pages and code can link to `physics.md#identifiability`.
myst_heading_anchors = 3

# ---------------------------------------------------------------- API reference
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
    # Document what a module defines, not what its __init__ re-exports through __all__
    # (re-exports would describe the same object twice).
    "ignore-module-all": True,
}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# ---------------------------------------------------------------- HTML
# Furo: a maintained, plain theme with good typography for long prose and math, light and dark
# modes and a sidebar that follows the toctree; it needs no configuration.
html_theme = "furo"
html_title = f"pdfinfer {release}"
html_static_path: list[str] = []
