"""Sphinx configuration of zmqffi's documentation.

autodoc imports the installed zmqffi (its extension must be built: ``tox -e docs``
installs the package first); the doctest builder runs every example of these pages
in one process, so each example ends the Context it makes.
"""

from __future__ import annotations

import doctest

import zmqffi

project = "zmqffi"
author = "the zmqffi developers"
copyright = "2026, the zmqffi developers"
version = release = zmqffi.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    # no intersphinx: the build must not need the network
]

root_doc = "index"
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_theme_options = {
    "description": "ZeroMQ for CPython and PyPy through cffi",
    "fixed_sidebar": True,
}
html_static_path: list[str] = []

# Members in the order the source gives them (which groups them by meaning), the
# signatures' type hints in the description rather than in the signature line.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}


def _private(cls: type) -> bool:
    return cls.__name__.startswith("_") or cls.__module__.rpartition(".")[2].startswith("_")


def public_bases(app: object, name: str, obj: object, options: object,
                 bases: list[type]) -> None:
    """Name the first public class of a private base's ancestry instead (the reader
    cannot look the private one up): ZMQError is an Exception, zmqffi.asyncio.Socket a
    zmqffi Socket."""
    for i, base in enumerate(bases):
        if _private(base):
            bases[i] = next(c for c in base.__mro__ if not _private(c))


def setup(app: object) -> None:
    app.connect("autodoc-process-bases", public_bases)  # type: ignore[attr-defined]

# All the examples run in one process, where one Context may be live at a time.
doctest_default_flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
doctest_global_setup = """
import zmqffi
"""
# A group that leaves its Context live fails here (and the Context is destroyed, so
# that the next group can make its own).
doctest_global_cleanup = """
from zmqffi.context import _live as _live_context
_left = _live_context()
if _left is not None and not _left.closed:
    _left.destroy(linger=0)
    raise AssertionError("this example left its Context live")
"""
