"""Downloads that resume, show their progress and prove what they fetched.

`fetch(url, path)` is this project's `keras.utils.get_file`: the file goes to
`path.part` first and is renamed to `path` only when it is whole and its SHA-256 is the
expected one, so `path` never holds half a file. A call that finds `path.part` (the
download was killed, or the connection dropped) asks the server for the rest only (an
HTTP Range request); a server that does not answer ranges sends the whole file again.
Within one call a dropped connection is resumed for as long as each try brings bytes.

Integrity, by what is known about the file:

* `sha256=`: a published digest (tensorflow-datasets' registered checksums, a model
  zoo's); a file with another digest is refused. All 64 hex digits, or the prefix of
  them that a publisher gives (at least 8: PyTorch's model zoos put 8 in the file name,
  `alexnet-owt-7be5be79.pth`).
* `digest_file=`: trust on first use, where nobody publishes one. The digest of the
  first complete download is written there, a line `<sha256>  <file name>` as
  `sha256sum` writes it (`sha256sum -c` checks the file with it), and every later
  download of that file must match it.

`mirrored(url, mirror)` points a URL at another server holding the same files (a
proxy's, a local copy, a test server), which is how a user behind a firewall, or a
test, runs the same code. `cache_folder()` is where downloads that belong to no output
folder (model weights) are kept.

Two processes fetching the same file (two evaluations sharing the weights' cache) take
turns: the second waits for the first, then finds the file there.

Every failure is one line: `DownloadError` (the server, the connection; a rerun
resumes), `DigestMismatch` (the file and both digests), `FileError` (the disk).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath

from spl_tf.utils import files, locks
from spl_tf.utils.errors import FileError, InputError
from spl_tf.utils.faults import fault_point

CHUNK = 1 << 20
PART = ".part"
LOCK = ".lock"
CACHE_VARIABLE = "SPL_TF_CACHE"
USER_AGENT = "spl_tf-downloads"  # some servers refuse Python's default agent
RETRY_AFTER_S = 1.0  # after a dropped connection that brought bytes
# The progress bar shows after this long: not for small files, nor for a server that
# cannot be reached.
PROGRESS_AFTER_S = 1.0
# A line of `sha256sum`: the digest, then two spaces (text mode) or " *" (binary), the name.
_SHA256SUM_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
# An expected SHA-256: all 64 hex digits or a prefix of them; fewer than 8 prove nothing.
_EXPECTED_SHA256 = re.compile(r"[0-9a-f]{8,64}")


class DownloadError(InputError):
    """The file could not be had from the server: a rerun resumes where this one stopped."""


class DigestMismatch(InputError):
    """The file downloaded is not the one expected. Named with both digests."""


def fetch(url: str, path: Path, *, sha256: str | None = None, size: int | None = None,
          digest_file: Path | None = None, progress: bool = True,
          timeout: float = 60.0) -> Path:
    """Download `url` to `path` (resuming `path.part`) and return `path`.

    An existing `path` is taken as it is, checked against `sha256` or `digest_file`
    when either is given. `size` (bytes), when known, refuses a server that offers
    another size before any byte is written. `timeout`: seconds without data before the
    connection counts as dropped.
    """
    path = Path(path)
    if path.exists():
        return _checked(path, url, sha256, digest_file)
    made: list[Path] = []
    try:
        files.make_folders(path.parent, made)
        with locks.one_at_a_time(path.with_name(path.name + LOCK),
                                 f"Waiting for another process fetching {path.name}"):
            if path.exists():  # the process this one waited for fetched it
                return _checked(path, url, sha256, digest_file)
            _fetch(url, path, sha256, size, digest_file, progress, timeout)
    except OSError as error:
        raise FileError(error.filename or path, error) from None
    finally:
        files.remove_empty(made)  # those a failure left empty: a part keeps them
    return path


def _checked(path: Path, url: str, sha256: str | None, digest_file: Path | None) -> Path:
    """`path`, there already, checked against what is known of its digest."""
    expected = _expected(sha256, digest_file, path.name)
    if expected:
        _check(path, sha256_of(path), expected, url, None if sha256 else digest_file)
    return path


def _expected(sha256: str | None, digest_file: Path | None, name: str) -> str | None:
    """The digest the file must have: the one given, or the one recorded on first use."""
    return (expected_sha256(sha256) if sha256 else
            _recorded(digest_file, name) if digest_file else None)


def _fetch(url: str, path: Path, sha256: str | None, size: int | None,
           digest_file: Path | None, progress: bool, timeout: float) -> None:
    """Download to `path.part`, check it and rename it to `path`."""
    recorded_in = None if sha256 else digest_file  # where the expected digest comes from
    expected = _expected(sha256, digest_file, path.name)
    part = path.with_name(path.name + PART)
    digest = _download(url, part, size, progress, timeout)
    if expected:
        _check(part, digest, expected, url, recorded_in, path)
    elif digest_file:
        record(digest_file, path.name, digest)
    os.replace(part, path)
    files.sync_folder(path.parent)


def mirrored(url: str, mirror: str | None) -> str:
    """`url`, or the file of the same name under the base URL `mirror` (a folder of the
    same files: `http://host/data/`, `file:///mnt/copies/`)."""
    if not mirror:
        return url
    return f"{mirror.rstrip('/')}/{file_name(url)}"


def file_name(url: str) -> str:
    """The last part of a URL's path: `facades.tar.gz`."""
    return PurePosixPath(urllib.parse.urlparse(url).path).name


def cache_folder(*parts: str) -> Path:
    """`$SPL_TF_CACHE/...`, by default `~/.cache/spl_tf/...`: for downloads shared by
    every run (model weights)."""
    root = os.environ.get(CACHE_VARIABLE) or Path("~", ".cache", "spl_tf")
    return Path(root, *parts).expanduser()


def expected_sha256(sha256: str) -> str:
    """`sha256` as lower-case hex: 64 digits, or a prefix of at least 8; InputError
    otherwise."""
    expected = str(sha256).strip().lower()
    if not _EXPECTED_SHA256.fullmatch(expected):
        raise InputError(f"sha256 must be a SHA-256 digest in hex (64 digits, or a prefix of "
                         f"at least 8), got {sha256!r}")
    return expected


def check_sha256(path: str | os.PathLike, sha256: str) -> str:
    """The SHA-256 of the file at `path`, which must start with `sha256` (64 hex digits,
    or a prefix of at least 8); InputError naming the file and both digests otherwise.

    For a file that is not this module's download (a weight file found in a cache):
    it is left where it is, for its owner to look at.
    """
    expected = expected_sha256(sha256)
    actual = sha256_of(Path(path))
    if not actual.startswith(expected):
        raise DigestMismatch(f"{path}: SHA-256 {actual} does not match the expected "
                             f"{expected}: the file is damaged or not the one meant; delete "
                             f"it and fetch it again")
    return actual


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file, as hex."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
    except OSError as error:
        raise FileError(path, error, "read") from None
    return digest.hexdigest()


def record(digest_file: Path, name: str, digest: str) -> None:
    """Write `<digest>  <name>` into `digest_file`, keeping the lines of other files."""
    lines = {**_lines(digest_file), name: digest}
    text = "".join(f"{value}  {key}\n" for key, value in sorted(lines.items()))
    files.write_bytes(digest_file, text.encode())


def _recorded(digest_file: Path, name: str) -> str | None:
    return _lines(digest_file).get(name)


def _lines(digest_file: Path) -> dict[str, str]:
    """{file name: digest} of a `sha256sum` file; empty where there is none yet."""
    try:
        text = digest_file.read_text()
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{digest_file}: cannot read the recorded digests ({error})") from None
    found = {}
    for line in filter(None, text.splitlines()):
        match = _SHA256SUM_LINE.fullmatch(line)
        if not match:
            raise InputError(f"{digest_file}: {line!r} is not a `<sha256>  <file>` line; "
                             "delete the file to trust the next download")
        found[match[2]] = match[1].lower()
    return found


def _check(path: Path, digest: str, expected: str, url: str, digest_file: Path | None,
           target: Path | None = None) -> None:
    """DigestMismatch naming the file and both digests (`expected` may be a prefix); the
    bad file is deleted, so that a rerun downloads it again (from a mirror that serves the
    right one, say)."""
    if digest.startswith(expected):
        return
    path.unlink(missing_ok=True)
    source = (f"recorded in {digest_file} when it was first downloaded; if the file "
              "changed at its source on purpose, delete that line and fetch again"
              if digest_file else "published for it")
    shown = expected if len(expected) == 64 else f"{expected}..."  # a published prefix
    raise DigestMismatch(f"{target or path} from {url} has SHA-256 {digest}, not the "
                         f"{shown} {source}; the download was deleted")


class _Partial:
    """What has come of a file so far: `part` holds `have` bytes whose SHA-256 `digest`
    has seen, which `bar` shows."""

    def __init__(self, part: Path, bar):
        self.part, self.bar = part, bar
        self.digest, self.have = hashlib.sha256(), 0

    def restart(self) -> None:
        self.digest, self.have = hashlib.sha256(), 0
        self.bar.reset(total=self.bar.total)

    def resume(self) -> None:
        """Take in what an earlier call wrote to `part`."""
        try:
            with open(self.part, "rb") as f:
                while chunk := f.read(CHUNK):
                    self.digest.update(chunk)
                self.have = f.tell()
        except FileNotFoundError:
            return
        except OSError as error:
            raise FileError(self.part, error, "read") from None
        self.bar.update(self.have)

    def append(self, out, chunk: bytes) -> None:
        try:
            out.write(chunk)
            out.flush()
        except OSError as error:
            raise FileError(self.part, error) from None
        self.digest.update(chunk)
        self.have += len(chunk)
        self.bar.update(len(chunk))


def _download(url: str, part: Path, size: int | None, progress: bool, timeout: float) -> str:
    """Bring `part` to the whole file; its SHA-256."""
    from tqdm import tqdm  # a dependency; imported here, as the commands' help needs none

    bar = tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, delay=PROGRESS_AFTER_S,
               desc=part.name[:-len(PART)], disable=not progress, file=sys.stderr, leave=False)
    with bar:
        partial = _Partial(part, bar)
        partial.resume()
        if size is not None and partial.have > size:  # not the start of this file
            partial.restart()
        while True:
            before = partial.have
            try:
                _transfer(url, partial, size, timeout)
            except DownloadError:
                if partial.have == before:  # no progress in this try: another would fare no better
                    raise
                time.sleep(RETRY_AFTER_S)
                continue
            return partial.digest.hexdigest()


def _transfer(url: str, partial: _Partial, size: int | None, timeout: float) -> None:
    """One request for the bytes from `partial.have` on, appended to the part file.
    Raises DownloadError when the connection fails or drops, keeping what came."""
    have = partial.have
    if size is not None and have == size:
        return  # whole already: killed before the rename
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                          timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and have and _total(error.headers) == have:
            return  # "nothing left in that range": everything had come
        raise DownloadError(f"cannot download {url}: HTTP {error.code} {error.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        raise DownloadError(f"cannot download {url}: {_reason(error)}") from None
    with response:
        resumed = bool(have) and response.status == 206 and _range_start(response.headers) == have
        if have and not resumed:  # the server sends the whole file (file:// URLs do)
            partial.restart()
        total = _offered(response.headers, resumed)
        if size is not None and total is not None and total != size:
            raise DownloadError(f"cannot download {url}: the server offers {total} bytes, "
                                f"{size} were expected (another file?)")
        if partial.bar.total is None and total is not None:
            partial.bar.total = total
        try:
            out = open(partial.part, "ab" if resumed else "wb")
        except OSError as error:
            raise FileError(partial.part, error) from None
        with out:
            while True:
                try:
                    # What has come, up to CHUNK: a connection that drops keeps its bytes.
                    chunk = response.read1(CHUNK)
                except (OSError, http.client.HTTPException) as error:
                    raise _dropped(url, partial, _reason(error)) from None
                if not chunk:
                    break
                partial.append(out, chunk)
                # A kill here leaves the bytes so far: the rerun asks for the rest.
                fault_point(f"download:{partial.part.name[:-len(PART)]}")
            try:
                os.fsync(out.fileno())
            except OSError as error:
                raise FileError(partial.part, error) from None
    if total is not None and partial.have != total:
        raise _dropped(url, partial, f"{total} bytes announced")


def _dropped(url: str, partial: _Partial, reason: str) -> DownloadError:
    return DownloadError(f"cannot download {url}: the connection dropped after "
                         f"{partial.have} bytes ({reason}); rerun the command to resume")


def _offered(headers, resumed: bool) -> int | None:
    """The file's total size, from Content-Range or Content-Length; None if unsaid."""
    if resumed:
        return _total(headers)
    length = headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _range_start(headers) -> int | None:
    """The first byte of a 206 answer's `Content-Range: bytes START-END/TOTAL`."""
    value = headers.get("Content-Range", "")
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _total(headers) -> int | None:
    """TOTAL of `Content-Range: bytes START-END/TOTAL` (or `bytes */TOTAL`)."""
    total = headers.get("Content-Range", "").rpartition("/")[2]
    return int(total) if total.isdigit() else None


def _reason(error: BaseException) -> str:
    """What went wrong, in a few words: `Connection refused`, `timed out`."""
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        error = error.reason
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
