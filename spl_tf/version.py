"""The version of the spl_tf distribution (read by setup.py too)."""

__version__ = "0.2.0"
