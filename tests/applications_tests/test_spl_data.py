"""`spl-data`: every set of the catalogue fetched through the mirror override from a local
server serving tiny archives modelled on the real ones (dataset_archives.py), into the
layout the trainers and predict commands read; what an interruption, a kill, a changed
file, a hostile archive or a second fetch does."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import dataset_archives
from applications.common import pairs
from applications.datasets import catalogue, command, fetching, registry
from applications.srresnet import data as sr_data
from applications.srresnet.config import SRImages
from command_utils import run_in_process
from http_server import serving
from spl_tf.utils import faults, locks

ROOT = Path(__file__).resolve().parents[2]
ARCHIVES = dataset_archives.archives()
SPL_DATA = "applications.datasets.command"


@pytest.fixture(scope="module")
def server():
    with serving() as server:
        server.files.update({f"/{name}": content for name, content in ARCHIVES.items()})
        yield server


@pytest.fixture
def div2k_registered(monkeypatch):
    """The tiny zips' own digests in place of tensorflow-datasets' (this process only)."""
    published = {url: (len(ARCHIVES[name]), hashlib.sha256(ARCHIVES[name]).hexdigest())
                 for url in catalogue.get("div2k").urls
                 for name in [url.rsplit("/", 1)[1]]}
    monkeypatch.setattr(registry, "checksums", lambda builder: published)


def spl_data(*args: str) -> subprocess.CompletedProcess:
    return run_in_process(SPL_DATA, *args)


def fetch(server, name: str, out: Path, *flags: str) -> subprocess.CompletedProcess:
    return spl_data("fetch", name, f"--output_dir={out}", f"--mirror={server.url}",
                    "--noprogress", *flags)


def listed(folder: Path) -> list[str]:
    """The names in `folder`, but the lock file every writing command keeps there."""
    return sorted(name for name in os.listdir(folder) if name != locks.LOCK_FILE)


def error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith("error: ")
    return line


# --- every set, in the layout its command reads ----------------------------------------

def _check_pix2pix(folder: Path, name: str) -> None:
    for split in dataset_archives.PIX2PIX_SPLITS[name]:
        assert len(pairs.scan_split(folder, split)) == dataset_archives.PAIRS_PER_SPLIT


def _check_div2k(folder: Path, name: str) -> None:
    for degradation in ("bicubic", "unknown"):
        for split, names in dataset_archives.DIV2K_NAMES.items():
            found = sr_data.folder_pairs(
                SRImages(data_dir=str(folder), degradation=degradation, scale=4), split)
            assert [p.hr.stem for p in found] == list(names)


def _check_sr_benchmarks(folder: Path, name: str) -> None:
    for original, ours in {"Set5": "Set5", "Set14": "Set14", "B100": "BSD100",
                           "Urban100": "Urban100"}.items():
        for scale in (2, 3, 4):
            scaled = folder / ours / f"X{scale}"
            found = sr_data.match_pairs(scaled / "LR", scaled / "HR", scale)
            assert [p.hr.stem for p in found] == list(dataset_archives.BENCHMARK_IMAGES[original])


CHECKS = {**{name: _check_pix2pix for name in dataset_archives.PIX2PIX_SPLITS},
          "div2k": _check_div2k, "sr_benchmarks": _check_sr_benchmarks}


def test_every_set_of_the_catalogue_is_checked_here():
    assert sorted(CHECKS) == sorted(d.name for d in catalogue.DATASETS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_each_set_is_fetched_into_the_layout_its_command_reads(server, tmp_path, name,
                                                               div2k_registered):
    dataset = catalogue.get(name)
    result = fetch(server, name, tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / name
    CHECKS[name](folder, name)
    assert f"{name}: fetched into {folder}" in result.stdout
    assert f"use: {dataset.usage.replace('DIR/', f'{tmp_path}/')}" in result.stdout
    # Only the set and, where no digest is published, the digest of its first download.
    record = [f"{name}.sha256"] if not dataset.registered_by else []
    assert listed(tmp_path) == sorted([name, *record])
    for url in dataset.urls if record else ():
        archive = ARCHIVES[url.rsplit("/", 1)[1]]
        assert (tmp_path / record[0]).read_text() == (
            f"{hashlib.sha256(archive).hexdigest()}  {url.rsplit('/', 1)[1]}\n")
    marker = json.loads((folder / fetching.MARKER).read_text())
    assert marker["name"] == name and marker["sources"] == list(dataset.urls)

    # A second fetch of the complete set asks the server nothing.
    requests = len(server.requests)
    again = fetch(server, name, tmp_path)
    assert again.returncode == 0 and f"{name}: complete already in {folder}" in again.stdout
    assert len(server.requests) == requests


def test_the_real_div2k_digests_are_read_from_tensorflow_datasets():
    """The digests DIV2K is checked against are tensorflow-datasets' own, for every zip."""
    registered = registry.checksums("div2k")
    for url in catalogue.get("div2k").urls:
        size, digest = registered[url]
        assert size > 10**7 and len(digest) == 64


# --- what goes wrong ---------------------------------------------------------------------

def test_a_changed_file_is_refused_naming_it_and_both_digests(server, tmp_path):
    wrong = "1" * 64
    record = tmp_path / "facades.sha256"
    record.write_text(f"{wrong}  facades.tar.gz\n")
    line = error_line(fetch(server, "facades", tmp_path))
    actual = hashlib.sha256(ARCHIVES["facades.tar.gz"]).hexdigest()
    assert str(tmp_path / fetching.DOWNLOADS / "facades.tar.gz") in line
    assert actual in line and wrong in line and str(record) in line
    assert listed(tmp_path) == ["facades.sha256"], "nothing unpacked, nothing left"
    assert record.read_text() == f"{wrong}  facades.tar.gz\n"


def test_an_archive_with_a_member_outside_its_folder_is_refused(tmp_path):
    with serving() as hostile:
        hostile.files["/facades.tar.gz"] = dataset_archives.pix2pix_archive(
            "facades", extra={"facades/../../escaped.txt": b"x"})
        line = error_line(fetch(hostile, "facades", tmp_path / "out"))
    assert "refusing the member 'facades/../../escaped.txt'" in line
    assert not (tmp_path / "escaped.txt").exists()
    out = tmp_path / "out"
    assert not (out / "facades").exists() and not (out / ".facades.unpacking").exists()


def test_a_folder_of_the_users_is_replaced_only_with_overwrite(server, tmp_path):
    own = tmp_path / "facades"
    own.mkdir()
    (own / "mine.txt").write_text("mine")
    line = error_line(fetch(server, "facades", tmp_path))
    assert f"{own} exists and was not made by spl-data" in line and "--overwrite" in line
    assert listed(tmp_path) == ["facades"] and os.listdir(own) == ["mine.txt"]
    assert fetch(server, "facades", tmp_path, "--overwrite").returncode == 0
    assert sorted(os.listdir(own)) == [fetching.MARKER, "test", "train", "val"]


@pytest.mark.parametrize("args, message", [
    ([], "expected spl-data list, or spl-data fetch NAME --output_dir=DIR (given: nothing)"),
    (["get", "facades"], "expected spl-data list, or spl-data fetch NAME"),
    (["fetch"], "name the set to fetch: spl-data fetch NAME --output_dir=DIR"),
    (["fetch", "facades", "maps", "--output_dir={tmp}/out"], "fetch takes one set"),
    (["fetch", "imagenet", "--output_dir={tmp}/out"],
     "no dataset named 'imagenet'; `spl-data list` describes facades, cityscapes"),
    (["fetch", "facades"], "give --output_dir: spl-data fetch facades --output_dir=DIR"),
    (["fetch", "facades", "--output_dir={tmp}/out", "--mirror=ftp://x/"],
     "--mirror=ftp://x/: expected a base URL starting with http://, https://, file://"),
    (["fetch", "facades", "--output_dir={tmp}/out", "--mirror=http://127.0.0.1:9/"],
     "cannot download http://127.0.0.1:9/facades.tar.gz: Connection refused"),
])
def test_a_wrong_command_is_one_line_and_changes_nothing(tmp_path, args, message):
    line = error_line(spl_data(*(a.format(tmp=tmp_path) for a in args), "--noprogress"))
    assert message in line
    assert listed(tmp_path) == []


def test_list_names_every_set_with_its_source_size_and_verification(monkeypatch):
    monkeypatch.delenv("SPL_DATA_MIRROR", raising=False)
    text = spl_data("list").stdout
    blocks = {block.split(":", 1)[0]: block for block in text.split("\n\n")}
    for dataset in catalogue.DATASETS:
        block = blocks[dataset.name]
        assert dataset.size in block and dataset.source in block
        assert all(url in block for url in dataset.urls)
        assert f"verified: {dataset.verification}" in block and dataset.usage in block
    assert "SHA-256 and size registered by tensorflow-datasets" in blocks["div2k"]
    assert "trust on first use" in blocks["facades"]
    assert "third-party copy" in blocks["sr_benchmarks"]
    assert "Manga109" in text  # a set with no public archive, said so

    monkeypatch.setenv("SPL_DATA_MIRROR", "http://proxy.example/data")
    mirrored = spl_data("list").stdout
    assert "http://proxy.example/data/facades.tar.gz" in mirrored
    assert "http://efrosgans.eecs.berkeley.edu" not in mirrored
    assert command.listing("") == text.rstrip("\n")


# --- interrupted ---------------------------------------------------------------------------

def _start(args: list[str], pause_at: str, pause_file: Path) -> subprocess.Popen:
    env = {**os.environ, faults.PAUSE_AT: pause_at, faults.PAUSE_FILE: str(pause_file)}
    return subprocess.Popen([sys.executable, "-m", SPL_DATA, *args, "--noprogress"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_pause(process: subprocess.Popen, pause_file: Path) -> None:
    deadline = time.monotonic() + 60
    while not pause_file.exists():
        if process.poll() is not None:
            pytest.fail(f"ended before pausing: {process.communicate()}")
        assert time.monotonic() < deadline, "did not pause"
        time.sleep(0.05)


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate()


def test_a_fetch_killed_mid_download_resumes_and_a_concurrent_one_is_refused(server,
                                                                            tmp_path):
    out, pause = tmp_path / "out", tmp_path / "paused"
    server.cut("/facades.tar.gz", after=1000)
    first = _start(["fetch", "facades", f"--output_dir={out}", f"--mirror={server.url}"],
                   "download:facades.tar.gz", pause)
    try:
        _wait_for_pause(first, pause)
        line = error_line(fetch(server, "facades", out))
        assert f"another spl-data fetch (pid {first.pid}) is writing there" in line
    finally:
        _kill(first)
    part = out / fetching.DOWNLOADS / "facades.tar.gz.part"
    have = part.stat().st_size
    assert 0 < have <= 1000 and not (out / "facades").exists()

    assert fetch(server, "facades", out).returncode == 0
    assert server.requested("/facades.tar.gz")[-1].range == f"bytes={have}-"
    _check_pix2pix(out / "facades", "facades")
    digest = hashlib.sha256(ARCHIVES["facades.tar.gz"]).hexdigest()
    assert (out / "facades.sha256").read_text() == f"{digest}  facades.tar.gz\n"  # byte-identical
    assert listed(out) == ["facades", "facades.sha256"]


def test_a_fetch_killed_mid_unpack_shows_no_half_set_and_the_rerun_completes(server,
                                                                            tmp_path):
    out, pause = tmp_path / "out", tmp_path / "paused"
    first = _start(["fetch", "maps", f"--output_dir={out}", f"--mirror={server.url}"],
                   "unpack:maps.tar.gz@3", pause)
    try:
        _wait_for_pause(first, pause)
        assert not (out / "maps").exists() and (out / ".maps.unpacking" / "maps").is_dir()
    finally:
        _kill(first)
    requests = len(server.requested("/maps.tar.gz"))
    assert fetch(server, "maps", out).returncode == 0
    assert len(server.requested("/maps.tar.gz")) == requests, "the archive was whole"
    _check_pix2pix(out / "maps", "maps")
    assert listed(out) == ["maps", "maps.sha256"]
