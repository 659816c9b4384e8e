"""The digests tensorflow-datasets registers for its datasets' downloads, read at run time
from the installed package: the published digests `spl-data` checks DIV2K against (never
copied into this project, so that they stay tensorflow-datasets' own)."""

from __future__ import annotations

from spl_tf.utils.errors import InputError


def checksums(builder: str) -> dict[str, tuple[int, str]]:
    """{url: (size in bytes, sha256)} that tensorflow-datasets registers for `builder`."""
    try:
        import tensorflow_datasets as tfds

        infos = tfds.builder_cls(builder).url_infos or {}
    except Exception as error:  # whatever a broken or too old install raises: one line
        raise InputError(f"cannot read the checksums tensorflow-datasets registers for "
                         f"{builder} ({type(error).__name__}: {error}); reinstall spl_tf's "
                         "requirements (pip install -e .)") from None
    return {url: (int(info.size), info.checksum) for url, info in infos.items()}
