"""`python -m applications.datasets list` runs `spl-data list`."""

from applications.datasets.command import entry_point

entry_point()
