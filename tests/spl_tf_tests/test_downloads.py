"""spl_tf.utils.downloads: resumed, verified, whole-or-nothing downloads, against a local
HTTP server (http_server.py) that answers ranges and can drop a connection midway."""

import hashlib
import os
import subprocess
import sys

import pytest

from http_server import serving
from spl_tf.utils import downloads, faults, locks
from spl_tf.utils.downloads import DigestMismatch, DownloadError
from spl_tf.utils.errors import FileError, InputError

DATA = os.urandom(3 * downloads.CHUNK + 12345)  # a few chunks, the last one short
DIGEST = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def server():
    with serving() as server:
        server.files["/data.bin"] = DATA
        yield server


@pytest.fixture(autouse=True)
def no_wait(monkeypatch):
    monkeypatch.setattr(downloads, "RETRY_AFTER_S", 0)


def _fetch(server, path, **kwargs):
    return downloads.fetch(server.url + "data.bin", path, progress=False, **kwargs)


def test_a_download_is_whole_verified_and_recorded_on_first_use(server, tmp_path):
    path = tmp_path / "dl" / "data.bin"
    record = tmp_path / "data.sha256"
    assert _fetch(server, path, sha256=DIGEST, size=len(DATA)) == path
    assert path.read_bytes() == DATA and os.listdir(path.parent) == ["data.bin"]
    path.unlink()
    _fetch(server, path, digest_file=record)
    assert record.read_text() == f"{DIGEST}  data.bin\n"  # as sha256sum writes it
    requests = len(server.requests)
    assert _fetch(server, path, digest_file=record) == path  # there: checked, not fetched
    assert len(server.requests) == requests


def test_a_dropped_connection_is_resumed_with_a_range_request(server, tmp_path):
    server.cut("/data.bin", after=downloads.CHUNK + 100)
    path = tmp_path / "data.bin"
    _fetch(server, path, sha256=DIGEST)
    assert path.read_bytes() == DATA
    assert [r.range for r in server.requested("/data.bin")] == [
        None, f"bytes={downloads.CHUNK + 100}-"]


def test_a_part_left_by_an_earlier_call_is_resumed(server, tmp_path):
    path = tmp_path / "data.bin"
    (tmp_path / "data.bin.part").write_bytes(DATA[:5000])
    _fetch(server, path, digest_file=tmp_path / "record")
    assert path.read_bytes() == DATA and not (tmp_path / "data.bin.part").exists()
    assert [r.range for r in server.requests] == ["bytes=5000-"]
    assert (tmp_path / "record").read_text().startswith(DIGEST)  # of the whole file


def test_a_server_that_ignores_ranges_sends_the_file_again(server, tmp_path):
    server.ranges = False
    (tmp_path / "data.bin.part").write_bytes(b"x" * 5000)  # not even the right bytes
    _fetch(server, tmp_path / "data.bin", sha256=DIGEST)
    assert (tmp_path / "data.bin").read_bytes() == DATA


def test_a_part_that_is_whole_already_is_only_renamed(server, tmp_path):
    (tmp_path / "data.bin.part").write_bytes(DATA)
    _fetch(server, tmp_path / "data.bin", sha256=DIGEST)  # the server answers 416
    assert (tmp_path / "data.bin").read_bytes() == DATA
    _fetch(server, tmp_path / "again.bin", sha256=DIGEST, size=len(DATA))
    (tmp_path / "sized.bin.part").write_bytes(DATA)
    requests = len(server.requests)
    _fetch(server, tmp_path / "sized.bin", size=len(DATA))  # known size: no request at all
    assert len(server.requests) == requests


@pytest.mark.parametrize("recorded", [False, True], ids=["published", "recorded"])
def test_another_digest_is_refused_naming_the_file_and_both_digests(server, tmp_path, recorded):
    path, record = tmp_path / "dl" / "data.bin", tmp_path / "data.sha256"
    wrong = "0" * 64
    if recorded:
        record.write_text(f"{wrong}  data.bin\n")
    with pytest.raises(DigestMismatch) as refused:
        _fetch(server, path, **({"digest_file": record} if recorded else {"sha256": wrong}))
    message = str(refused.value)
    assert str(path) in message and DIGEST in message and wrong in message
    assert (str(record) in message) == recorded
    assert os.listdir(tmp_path) == (["data.sha256"] if recorded else []), "nothing left"
    assert not recorded or record.read_text() == f"{wrong}  data.bin\n"


def test_a_published_prefix_of_the_digest_is_checked_as_the_whole_one(server, tmp_path):
    # PyTorch's model zoos publish the first 8 hex digits, in the file name.
    path = tmp_path / "data.bin"
    assert _fetch(server, path, sha256=DIGEST[:8].upper()) == path
    assert downloads.check_sha256(path, DIGEST[:8]) == DIGEST
    wrong = "%08x" % (int(DIGEST[:8], 16) ^ 1)
    with pytest.raises(DigestMismatch, match=rf"has SHA-256 {DIGEST}, not the {wrong}\.\.\. "
                                             "published for it; the download was deleted$"):
        _fetch(server, tmp_path / "other.bin", sha256=wrong)
    for short in (DIGEST[:7], "not hex!", DIGEST + "0"):
        with pytest.raises(InputError, match="sha256 must be a SHA-256 digest in hex"):
            _fetch(server, tmp_path / "other.bin", sha256=short)
    assert os.listdir(tmp_path) == ["data.bin"]


def test_the_wrong_size_is_refused_before_any_byte_is_written(server, tmp_path):
    with pytest.raises(DownloadError, match=f"offers {len(DATA)} bytes, 7 were expected"):
        _fetch(server, tmp_path / "dl" / "data.bin", size=7)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("url, reason", [
    ("{server}missing.bin", "HTTP 404"),
    ("http://127.0.0.1:{closed}/data.bin", "Connection refused"),
    ("file:///nonexistent/data.bin", "No such file or directory"),
])
def test_a_server_that_cannot_give_the_file_is_one_line_and_leaves_nothing(
        server, tmp_path, url, reason):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    url = url.format(server=server.url, closed=closed)
    with pytest.raises(DownloadError) as failed:
        downloads.fetch(url, tmp_path / "dl" / "data.bin", progress=False)
    assert str(failed.value).startswith(f"cannot download {url}: ")
    assert reason in str(failed.value) and "\n" not in str(failed.value)
    assert os.listdir(tmp_path) == []


def test_a_mirror_and_a_file_url_serve_the_same_files(server, tmp_path):
    assert downloads.mirrored("https://a.org/x/data.bin?v=1", server.url) == server.url + "data.bin"
    assert downloads.mirrored("https://a.org/x/data.bin", None) == "https://a.org/x/data.bin"
    copies = tmp_path / "copies"
    copies.mkdir()
    (copies / "data.bin").write_bytes(DATA)
    url = downloads.mirrored("https://a.org/data.bin", copies.as_uri() + "/")
    path = downloads.fetch(url, tmp_path / "data.bin", sha256=DIGEST, progress=False)
    assert path.read_bytes() == DATA


def test_the_progress_bar_shows_the_file_after_a_while(server, tmp_path, capsys, monkeypatch):
    downloads.fetch(server.url + "data.bin", tmp_path / "quick.bin")
    assert capsys.readouterr().err == "", "a download done within a second shows no bar"
    monkeypatch.setattr(downloads, "PROGRESS_AFTER_S", 0)
    downloads.fetch(server.url + "data.bin", tmp_path / "data.bin")
    assert "data.bin" in capsys.readouterr().err


def test_the_cache_folder_is_configurable(monkeypatch, tmp_path):
    monkeypatch.setenv(downloads.CACHE_VARIABLE, str(tmp_path))
    assert downloads.cache_folder("lpips") == tmp_path / "lpips"
    monkeypatch.delenv(downloads.CACHE_VARIABLE)
    assert downloads.cache_folder() == downloads.Path.home() / ".cache" / "spl_tf"


def test_a_full_disk_mid_download_is_one_line_and_the_rerun_resumes(server, tmp_path,
                                                                   monkeypatch):
    path = tmp_path / "data.bin"
    monkeypatch.setenv(faults.FAIL_AT, "download:data.bin@2")
    faults.reset()
    try:
        with pytest.raises(FileError, match=rf"cannot write {path}: No space left on device"):
            _fetch(server, path)
    finally:
        monkeypatch.delenv(faults.FAIL_AT)
        faults.reset()
    kept = (tmp_path / "data.bin.part").stat().st_size
    assert 0 < kept < len(DATA) and not path.exists()
    _fetch(server, path, sha256=DIGEST)
    assert path.read_bytes() == DATA and server.requests[-1].range == f"bytes={kept}-"


def test_two_processes_fetching_one_file_take_turns(server, tmp_path):
    """The second waits for the first (which holds the lock, as if it were downloading),
    then finds the file there and asks the server for nothing."""
    path = tmp_path / "dl" / "data.bin"
    path.parent.mkdir()
    waiter = [sys.executable, "-c",
              "import sys; from spl_tf.utils import downloads; "
              "print(downloads.fetch(sys.argv[1], __import__('pathlib').Path(sys.argv[2]), "
              "sha256=sys.argv[3], progress=False))",
              server.url + "data.bin", str(path), DIGEST]
    with locks.one_at_a_time(path.with_name("data.bin.lock"), "held by the test"):
        second = subprocess.Popen(waiter, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        assert second.stderr.readline().startswith(
            "Waiting for another process fetching data.bin")
        assert second.poll() is None  # waiting, not fetching
        before = len(server.requests)
        _fetch(server, path.with_name("first.bin"), sha256=DIGEST)
        path.with_name("first.bin").rename(path)  # as the first process's fetch ends
    out, _ = second.communicate(timeout=60)
    assert second.returncode == 0 and out.strip() == str(path)
    assert len(server.requests) == before + 1  # the first's only
    assert sorted(p.name for p in path.parent.iterdir()) == ["data.bin"]  # no lock left
