"""The settings of `spl-data`: its flags, one field each."""

from __future__ import annotations

import dataclasses

from applications.common.config import absolute_paths, option

MIRROR_VARIABLE = "SPL_DATA_MIRROR"


@dataclasses.dataclass(frozen=True)
class FetchConfig:
    output_dir: str | None = option(None, "The folder the sets go into, each as "
                                    "OUTPUT_DIR/NAME (needed by fetch).", path=True)
    mirror: str = option("", "Base URL of a server (http://, https:// or file://) holding the "
                         "same archive files under their own names, fetched from instead of "
                         f"each set's source; ${MIRROR_VARIABLE} says the same. The digests "
                         "checked are the same.")
    overwrite: bool = option(False, "Replace OUTPUT_DIR/NAME when it was not made by "
                             "spl-data, or fetch a complete set again.")
    progress: bool = option(True, "Show a progress bar while downloading.")

    def __post_init__(self):
        absolute_paths(self)


@dataclasses.dataclass(frozen=True)
class DataConfig:
    fetch: FetchConfig = FetchConfig()
