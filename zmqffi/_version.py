"""zmqffi's version, the one place it is written: pyproject.toml reads it (statically,
without importing the package) and zmqffi/__init__.py re-exports it."""

__version__ = "0.1.0"
