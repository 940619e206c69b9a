"""Sphinx configuration of the pdfinfer documentation.

Build: ``make docs`` (``sphinx-build -W --keep-going -b html docs docs/_build/html`` in the
project's virtual environment). Pages are Markdown (MyST); the API reference is generated from
the docstrings of every module of ``src/pdfinfer`` (``docs/api.md``).
"""

from __future__ import annotations

import importlib.util
import os
import sys

from sphinx.application import Sphinx
from sphinx.util import logging as sphinx_logging

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

#: Modules whose docstring is not yet valid reStructuredText. Their docstring is shown verbatim (a
#: literal block) instead of being parsed, so the build stays strict (-W) for everything else. Fix
#: the docstring, then delete its entry here (an entry naming a module that does not exist fails
#: the build).
VERBATIM_DOCSTRINGS = {
    "pdfinfer.compare.run",  # the metrics.json key list: indented continuation lines, split literals
}


def _show_verbatim(app: Sphinx, what: str, name: str, obj: object, options: dict, lines: list[str]) -> None:
    """autodoc-process-docstring: render the docstrings of VERBATIM_DOCSTRINGS as literal blocks."""
    if what == "module" and name in VERBATIM_DOCSTRINGS and lines:
        lines[:] = ["::", ""] + [f"    {line}" if line else "" for line in lines] + [""]


def _check_verbatim(app: Sphinx) -> None:
    """builder-inited: every VERBATIM_DOCSTRINGS entry names an existing module."""
    for name in sorted(VERBATIM_DOCSTRINGS):
        if importlib.util.find_spec(name) is None:
            sphinx_logging.getLogger(__name__).warning("conf.py: VERBATIM_DOCSTRINGS names %s, which does not exist", name)


def setup(app: Sphinx) -> None:
    app.connect("builder-inited", _check_verbatim)
    app.connect("autodoc-process-docstring", _show_verbatim)


# ---------------------------------------------------------------- HTML
# Furo: a maintained, plain theme with good typography for long prose and math, light and dark
# modes and a sidebar that follows the toctree; it needs no configuration.
html_theme = "furo"
html_title = f"pdfinfer {release}"
html_static_path: list[str] = []
