"""Fault injection: `fcc_dataset.build` and `fcc_dataset.pairs` with `--jobs=2`, and the
build downloading from a fake YouTube (`fake_youtube`, `--jobs=1`), paused at a named
point (`spl_tf.utils.faults`) and SIGKILLed there, parent only, as a crash would. No
process of theirs may outlive the parent (workers, ffmpeg), and a rerun of the same
command must end as an uninterrupted run does, with no temp files left.

Processes are told apart by PID and start time, from /proc/PID/stat (no psutil); a
zombie counts as ended (orphans go to init or a subreaper, which may reap them late).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from face_data import face_photo, write_rgb
from fake_youtube import serving
from fcc_dataset import frames, frames_csv, pairs, pipeline, processes, sample
from fcc_dataset.manifest import Manifest
from spl_tf.utils import faults

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc and relies on PR_SET_PDEATHSIG")

ROOT = Path(__file__).resolve().parents[2]
PAUSE_WAIT = 90  # s for a run to reach its pause point (each worker imports TensorFlow)
END_WAIT = 5  # s for the processes of a killed run to end
RUN_WAIT = 180  # s for a rerun to finish

VIDEOS = [f"faultvid{i:03d}" for i in range(4)]
CSV_TEXT = "".join(f"{v},00001,,eof_00002\n" for v in VIDEOS)  # 6 crops per video
DOWNLOADED = ["download001", "download002"]  # served by a fake YouTube (fake_youtube)
PAIR_SIZE = 128
PAIRS = 2

# (pause point, which process pauses there). A worker's counts are its own.
BUILD_KILLS = [
    ("write:manifest.json@2", "parent"),  # inside the manifest's write, half written
    ("build:video@2", "parent"),  # between videos, the workers still busy
    ("build:crops@3", "worker"),  # mid-video: half its crops written
    ("ffmpeg", "ffmpeg"),  # a worker's ffmpeg running (a stand-in that pauses)
]
# (pause point, --keep_videos). The builds that download run in one process (--jobs=1):
# the fake yt-dlp patches the process that runs it, and workers are spawned afresh.
DOWNLOAD_KILLS = [
    ("download:file@2", False),  # the second video whole, under its temporary name
    ("download:file@1", True),  # the first, in --videos_dir (before TensorFlow's import)
    ("ffmpeg", False),  # the first video's tail extraction running, its head frames written
]
PAIRS_KILLS = [
    ("pairs:pair@1", "worker"),  # a source's pairs half written
    # Between sources. Idle Pool workers would end by themselves (their task pipe ends),
    # busy ones only after their task: this one checks the resume more than the signal.
    ("pairs:source@1", "parent"),
]


def _one_in_make_test(kills: list[tuple], ids: list[str], kept: str) -> list:
    """The kill `kept` in `make test`, the others in `make test-slow`: each starts a build
    (a process tree), pauses it, kills it and resumes it, half a minute on 2 cores."""
    return [pytest.param(*kill, id=name, marks=() if name == kept else pytest.mark.slow)
            for kill, name in zip(kills, ids, strict=True)]


# /proc ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Stat:
    pid: int
    state: str
    ppid: int
    session: int
    start: int  # clock ticks after boot: with the PID, names one process for good


def read_stat(pid: int) -> Stat | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after it.
    fields = text[text.rindex(")") + 2:].split()
    return Stat(pid, fields[0], int(fields[1]), int(fields[3]), int(fields[19]))


def all_stats() -> list[Stat]:
    stats = (read_stat(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit())
    return [s for s in stats if s is not None]


def descendants(pid: int) -> list[Stat]:
    """The live children of `pid`, their children, and so on."""
    stats = [s for s in all_stats() if is_running(s)]
    found, parents = [], {pid}
    while children := [s for s in stats if s.ppid in parents and s not in found]:
        found += children
        parents = {s.pid for s in children}
    return found


def is_running(stat: Stat) -> bool:
    return stat.state not in ("Z", "X")  # a zombie has ended; only its entry is left


def still_running(process: Stat) -> bool:
    now = read_stat(process.pid)
    return now is not None and now.start == process.start and is_running(now)


def session_running(session: int) -> list[Stat]:
    """Processes of the session (the killed run started it): orphans included."""
    return [s for s in all_stats() if s.session == session and is_running(s)]


# A killed run --------------------------------------------------------------------------


@dataclasses.dataclass
class Kill:
    paused_pid: int
    paused_at: str
    parent: int
    descendants: list[Stat]  # at the kill


def run_and_kill(command: list[str], point: str, tmp_path: Path,
                 extra_env: dict[str, str] | None = None) -> Kill:
    """Run `command` until a process pauses at `point`; SIGKILL the parent (only) and
    check that every process of the run ends within END_WAIT seconds."""
    marker, log = tmp_path / "paused", tmp_path / "killed.log"
    env = {**os.environ, faults.PAUSE_AT: point, faults.PAUSE_FILE: str(marker),
           **(extra_env or {})}
    with log.open("w") as stderr:
        # Its own session, so that orphans can still be found (and cleaned up) by it.
        run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stderr, stderr=stderr,
                               start_new_session=True)
    try:
        wait_for(lambda: marker.exists() or run.poll() is not None, PAUSE_WAIT)
        assert marker.exists(), f"no pause at {point}:\n{log.read_text()[-3000:]}"
        pid, name = marker.read_text().split()
        kill = Kill(int(pid), name, run.pid, descendants(run.pid))
        os.kill(run.pid, signal.SIGKILL)
        # Not run.poll(): the unreaped parent keeps its PID (the session id) from reuse.
        wait_for(lambda: not any(map(still_running, kill.descendants))
                 and not session_running(run.pid), END_WAIT)
        survivors = {s.pid for s in kill.descendants if still_running(s)}
        survivors |= {s.pid for s in session_running(run.pid)}
        assert not survivors, f"alive after the parent's SIGKILL: {sorted(survivors)} " \
                              f"of {kill.descendants}"
        return kill
    finally:
        for stat in session_running(run.pid):  # only what this run started
            with contextlib.suppress(ProcessLookupError):
                os.kill(stat.pid, signal.SIGKILL)
        if run.poll() is None:
            run.kill()
        run.wait(timeout=END_WAIT)


def wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def rerun(command: list[str]) -> subprocess.CompletedProcess:
    """`command` as a user would run it again: no pause, the real ffmpeg."""
    env = {k: v for k, v in os.environ.items()
           if k not in (faults.PAUSE_AT, faults.PAUSE_FILE, "IMAGEIO_FFMPEG_EXE")}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=RUN_WAIT)
    assert result.returncode == 0, result.stderr
    return result


def check_paused_where_meant(kill: Kill, who: str) -> None:
    pids = {s.pid: s for s in kill.descendants}
    workers = {s.pid for s in kill.descendants if s.ppid == kill.parent}
    assert len(workers) >= 2, kill.descendants  # two workers (and the resource tracker)
    if who == "parent":
        assert kill.paused_pid == kill.parent
    elif who == "worker":
        assert kill.paused_pid in workers
    else:  # a worker's child
        assert kill.paused_pid in pids and pids[kill.paused_pid].ppid in workers


def leftovers(root: Path) -> list[Path]:
    """What a run writes on the way: `.NAME.*.tmp` files, `.work/`, `.ID.download.*`."""
    return [p for p in root.rglob("*")
            if p.name.endswith(".tmp") or p.name == ".work" or ".download." in p.name]


# fcc_dataset.processes -----------------------------------------------------------------


def test_a_worker_whose_parent_is_already_gone_exits_at_once():
    # The race that prctl alone leaves open: the parent died before the call.
    code = "from fcc_dataset import processes; processes.die_with_parent(1); print('ran on')"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stdout) == (processes.ORPHAN_EXIT_CODE, "")


def test_the_death_signal_follows_the_thread_that_started_the_child():
    # Why the pools must be made and used by one thread that outlives them.
    children = {}

    def start(name: str) -> None:
        children[name] = subprocess.Popen(["sleep", "60"],
                                          preexec_fn=processes.end_with_parent())

    thread = threading.Thread(target=start, args=("thread",))
    thread.start()
    thread.join()
    start("main")
    try:
        assert children["thread"].wait(timeout=END_WAIT) == -signal.SIGKILL
        assert children["main"].poll() is None
    finally:
        for child in children.values():
            child.kill()
            child.wait(timeout=END_WAIT)


# Build ---------------------------------------------------------------------------------


def clip_folder(root: Path, name: str, video_ids) -> Path:
    """`root/name/` holding `{video_id}.mp4` for each of `video_ids`: links to one 5 s clip."""
    clip = sample.write_sample_video(root / "clip.mp4", seconds=5, fps=20)
    folder = root / name
    folder.mkdir()
    for video_id in video_ids:
        (folder / f"{video_id}.mp4").symlink_to(clip)
    return folder


@pytest.fixture(scope="module")
def build_inputs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The frame list, the videos folder, and an uninterrupted build of them."""
    root = tmp_path_factory.mktemp("faults_build")
    videos = clip_folder(root, "videos", VIDEOS)
    csv_path = root / "frames.csv"
    csv_path.write_text(CSV_TEXT)
    pipeline.build(frames_csv.parse(CSV_TEXT, str(csv_path)), root / "reference",
                   videos_dir=videos, download=False, hr_min_size=64)
    return csv_path, videos, root / "reference"


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` but the lock -> a hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


def fake_ffmpeg(folder: Path, real: str | None = None) -> Path:
    """An "ffmpeg" that pauses at the point `ffmpeg` and never returns by itself. Given
    the `real` one, only the tail's extraction (`-sseof`) pauses; other calls run it."""
    script = folder / "ffmpeg"
    script.write_text(f"#!{sys.executable}\nimport os, sys\n"
                      f"sys.path.insert(0, {str(ROOT)!r})\n"
                      f"if {real!r} and '-sseof' not in sys.argv:\n"
                      f"    os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
                      "from spl_tf.utils.faults import fault_point\nfault_point('ffmpeg')\n"
                      "sys.exit('the fake ffmpeg was not paused')\n")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize("point, who", _one_in_make_test(
    BUILD_KILLS, [p for p, _ in BUILD_KILLS], kept="build:crops@3"))
def test_a_build_killed_at_a_pause_point_leaves_no_process_and_resumes(
        build_inputs, tmp_path, point, who):
    csv_path, videos, reference = build_inputs
    output = tmp_path / "FCC"
    command = [sys.executable, "-m", "fcc_dataset.build", f"--output_dir={output}",
               f"--frames_csv={csv_path}", f"--videos_dir={videos}", "--nodownload",
               "--hr_min_size=64", "--jobs=2"]
    ffmpeg = {"IMAGEIO_FFMPEG_EXE": str(fake_ffmpeg(tmp_path))} if who == "ffmpeg" else {}

    kill = run_and_kill(command, point, tmp_path, ffmpeg)

    check_paused_where_meant(kill, who)
    if point.startswith("write:manifest.json"):  # the old manifest stands, whole
        assert list(output.glob(".manifest.json.*.tmp"))
        assert len(Manifest.load(output).records) == 1
    result = rerun(command)
    assert f"{len(VIDEOS)} done, 0 unavailable, 0 failed" in result.stdout
    assert tree(output) == tree(reference)
    assert not leftovers(output)


# Build, downloading --------------------------------------------------------------------


@pytest.fixture(scope="module")
def download_inputs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """The frame list, the folder the fake YouTube serves, and an uninterrupted build
    of them with --keep_videos (`FCC/` and `videos/`)."""
    import yt_dlp

    root = tmp_path_factory.mktemp("faults_download")
    youtube = clip_folder(root, "youtube", DOWNLOADED)
    csv_text = "".join(f"{v},00001,,eof_00002\n" for v in DOWNLOADED)
    csv_path = root / "frames.csv"
    csv_path.write_text(csv_text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yt_dlp, "YoutubeDL", serving(youtube))
        pipeline.build(frames_csv.parse(csv_text, str(csv_path)), root / "reference/FCC",
                       videos_dir=root / "reference/videos", keep_videos=True,
                       hr_min_size=64)
    return csv_path, youtube, root / "reference"


@pytest.mark.parametrize("point, keep", _one_in_make_test(
    DOWNLOAD_KILLS, [f"{p}{'-keep_videos' * k}" for p, k in DOWNLOAD_KILLS],
    kept="download:file@2"))
def test_a_downloading_build_killed_at_a_pause_point_resumes(
        download_inputs, tmp_path, point, keep):
    csv_path, youtube, reference = download_inputs
    output, videos = tmp_path / "FCC", tmp_path / "videos"
    command = [sys.executable, str(ROOT / "tests/fake_youtube.py"), str(youtube),
               f"--output_dir={output}", f"--frames_csv={csv_path}", "--hr_min_size=64"]
    command += [f"--videos_dir={videos}", "--keep_videos"] if keep else []
    ffmpeg = {}
    if point == "ffmpeg":
        ffmpeg = {"IMAGEIO_FFMPEG_EXE": str(fake_ffmpeg(tmp_path, frames.ffmpeg_exe()))}

    kill = run_and_kill(command, point, tmp_path, ffmpeg)

    work = output / ".work" / DOWNLOADED[0]
    if point == "ffmpeg":  # a child of the build (no workers) pauses, the head extracted
        assert {s.pid: s.ppid for s in kill.descendants}[kill.paused_pid] == kill.parent
        assert (work / f"{DOWNLOADED[0]}.mp4").is_file()
        assert sorted(p.name for p in (work / "frames").iterdir()) == [
            f"{DOWNLOADED[0]}_{n:05d}.jpg" for n in range(1, 6)]
    else:  # the build itself pauses, the videos before done, this one downloaded
        video_id = DOWNLOADED[int(point.partition("@")[2]) - 1]
        assert kill.paused_pid == kill.parent
        assert list(Manifest.load(output).records) == DOWNLOADED[:DOWNLOADED.index(video_id)]
        folder = videos if keep else output / ".work" / video_id
        temporary = folder / f".{video_id}.download.mp4"
        assert temporary.read_bytes() == (youtube / f"{video_id}.mp4").read_bytes()
    result = rerun(command)
    assert f"{len(DOWNLOADED)} done, 0 unavailable, 0 failed" in result.stdout
    assert tree(output) == tree(reference / "FCC")
    assert tree(videos) == (tree(reference / "videos") if keep else {})
    assert not leftovers(tmp_path)


# Pairs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pairs_inputs(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Sources, references, and the pairs an uninterrupted run writes."""
    root = tmp_path_factory.mktemp("faults_pairs")
    sources, references = root / "NoMakeup", root / "AnyMakeup"
    for i in range(3):
        write_rgb(sources / f"s{i}.jpg", face_photo((4 * i, -3 * i), 0.9 + 0.1 * i,
                                                    size=PAIR_SIZE))
        write_rgb(references / f"r{i}.jpg", face_photo((-5 * i, 6), 1.1, (1.1, 0.9, 0.9),
                                                       size=PAIR_SIZE))
    report = pairs.make_pairs(sources, references, root / "reference", PAIRS, PAIR_SIZE)
    assert report.written == 3 * PAIRS
    return sources, references, root / "reference"


@pytest.mark.parametrize("point, who", _one_in_make_test(
    PAIRS_KILLS, [p for p, _ in PAIRS_KILLS], kept="pairs:pair@1"))
def test_pairs_killed_at_a_pause_point_leave_no_process_and_resume(
        pairs_inputs, tmp_path, point, who):
    sources, references, uninterrupted = pairs_inputs
    names = sorted(p.name for p in uninterrupted.glob("*.jpg"))
    output = tmp_path / "pairs"
    command = [sys.executable, "-m", "fcc_dataset.pairs", f"--sources={sources}",
               f"--references={references}", f"--output_dir={output}",
               f"--pairs={PAIRS}", f"--image_size={PAIR_SIZE}", "--jobs=2"]

    kill = run_and_kill(command, point, tmp_path)

    check_paused_where_meant(kill, who)
    before = [p.name for p in output.glob("*.jpg")]
    if who == "worker":
        assert 0 < len(before) < len(names), "the kill should land mid-run"
    result = rerun(command)
    assert f"{len(names) - len(before)} pairs written, {len(before)} already there" \
        in result.stdout
    # The same pairs, byte for byte, as the uninterrupted run wrote.
    assert tree(output) == tree(uninterrupted)
    assert not leftovers(output)
