"""DIV2K through tensorflow-datasets, on its real path: the div2k builder's
`download_and_prepare` end to end against a local server serving tiny zips with DIV2K's
member layout (the builder's URLs and registered checksums patched, in this process
only), then one training step of `spl-srresnet-train --tfds_name` on what it prepared.
The mocks of `tfds.testing.mock_data` never reach this code (tensorflow-datasets 4.9
imports `importlib_resources` there, which setup.py now declares)."""

import csv
import hashlib
import json

import pytest
import tensorflow_datasets as tfds

import dataset_archives
from command_utils import run_in_process
from http_server import serving
from spl_tf.utils import downloads

NAME = "div2k/bicubic_x4"


@pytest.fixture
def local_div2k(monkeypatch):
    """The builder of div2k/bicubic_x4 downloading from a local server: (server, the
    registered checksums it is given)."""
    zips = dataset_archives.div2k_archives()
    builder_class = tfds.builder_cls("div2k")
    (config,) = [c for c in builder_class.BUILDER_CONFIGS if c.name == "bicubic_x4"]
    with serving() as server:
        server.files.update({f"/{name}": content for name, content in zips.items()})
        urls = {key: downloads.mirrored(url, server.url)
                for key, url in config.download_urls.items()}
        monkeypatch.setattr(config, "download_urls", urls)
        registered = {url: tfds.core.download.checksums.UrlInfo(
            size=len(zips[downloads.file_name(url)]), filename=downloads.file_name(url),
            checksum=hashlib.sha256(zips[downloads.file_name(url)]).hexdigest())
            for url in urls.values()}
        monkeypatch.setattr(builder_class, "url_infos", registered)
        yield server, registered


def _train(tmp_path, *flags):
    return run_in_process(
        "applications.srresnet.train", f"--tfds_name={NAME}",
        f"--tfds_data_dir={tmp_path / 'tfds'}", f"--model_dir={tmp_path / 'run'}",
        "--epochs=1", "--batch_size=2", "--lr_crop_size=8", "--num_blocks=1", "--filters=8",
        "--val_images=1", "--verbose=0", "--jit_compile=false", *flags)


def test_the_div2k_builder_prepares_from_the_server_and_a_trainer_trains_on_it(local_div2k,
                                                                                tmp_path):
    server, registered = local_div2k
    result = _train(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(r.path for r in server.requests) == sorted(
        f"/{downloads.file_name(url)}" for url in registered)
    prepared = tfds.builder(NAME, data_dir=str(tmp_path / "tfds"))
    assert prepared.is_prepared()
    assert {split: info.num_examples for split, info in prepared.info.splits.items()} == {
        "train": 2, "validation": 2}
    with open(tmp_path / "run" / "training_log.csv", newline="") as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["0"]  # one epoch of one step
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["config"]["data"]["tfds_name"] == NAME


def test_a_set_tensorflow_datasets_cannot_prepare_is_one_line(local_div2k, tmp_path,
                                                               monkeypatch):
    _, registered = local_div2k
    url = next(iter(registered))
    registered[url] = tfds.core.download.checksums.UrlInfo(
        size=registered[url].size, checksum="0" * 64, filename=registered[url].filename)
    result = _train(tmp_path)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: --tfds_name={NAME}: tensorflow-datasets could not "
                                "download and prepare it (NonMatchingChecksumError")
