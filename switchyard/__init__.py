"""Switchyard, an operations console for Celery and Kombu brokers.

``__version__`` is the one place the version is written: the wheel's metadata (pyproject.toml's
dynamic version), ``switchyard --version`` and the page footer all read it.
"""

__version__ = "0.1.0"
