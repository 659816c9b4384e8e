"""FCC rebuilding speed: the build (frame extraction, face detection, cropping) and the
aligned pairs, with one worker process and with two.

    python benchmarks/fcc.py
    python benchmarks/fcc.py --videos=8 --seconds=20 --rounds=3

Offline: the videos are copies of `fcc_dataset.sample`'s synthetic clip (the astronaut
photo, 512x512, on two frames out of three), every extracted frame listed in the CSV,
so each frame costs one JPEG decode and one dlib detection. Pairs are built from the LR
faces of the build (`LR/NoMakeup` onto `LR/AnyMakeup`). Every configuration is run
`--rounds` times, interleaved, from scratch (new output folders, so the time includes
starting the worker processes), and the median is reported: items per second of wall
time, and CPU milliseconds per item (this process, its workers and ffmpeg), which
shows what the workers cost on a machine too busy for wall times to scale.
"""

import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from absl import app, flags

from fcc_dataset import frames, frames_csv, pipeline, sample

FLAGS = flags.FLAGS
flags.DEFINE_integer("videos", 4, "Copies of the sample video.")
flags.DEFINE_float("seconds", 20, "Length of the sample video.")
flags.DEFINE_integer("fps", 20, "Its frame rate.")
flags.DEFINE_integer("pairs", 1, "References per source face.")
flags.DEFINE_integer("rounds", 2, "Timed rounds per configuration.")

JOBS = (1, 2)


def make_inputs(root: Path) -> tuple[list[frames_csv.VideoRow], Path, int]:
    """(CSV rows, videos folder, listed frames): head frames as no-makeup, tail frames
    as strong makeup."""
    clip = sample.write_sample_video(root / "clip.mp4", FLAGS.seconds, FLAGS.fps)
    videos = root / "videos"
    videos.mkdir()
    sampled = int(FLAGS.seconds * FLAGS.fps) // frames.STEP
    head = ";".join(f"{k:05d}" for k in range(1, sampled + 1))
    tail = ";".join(f"eof_{k:05d}" for k in range(1, sampled + 1))
    lines = []
    for i in range(FLAGS.videos):
        video_id = f"benchmark{i:02d}"
        (videos / f"{video_id}.mp4").symlink_to(clip)
        lines.append(f"{video_id},{head},,{tail}")
    return frames_csv.parse("\n".join(lines), "benchmark.csv"), videos, 2 * sampled * FLAGS.videos


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (workers, ffmpeg)."""
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                      resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_rounds(run: Callable[[int, int], None]) -> dict[int, tuple[float, float]]:
    """Median (wall, CPU) seconds of `run(jobs, round)` per jobs setting, rounds
    interleaved."""
    times: dict[int, list[tuple[float, float]]] = {jobs: [] for jobs in JOBS}
    for round_ in range(FLAGS.rounds):
        for jobs in JOBS:
            start, cpu = time.perf_counter(), cpu_seconds()
            run(jobs, round_)
            times[jobs].append((time.perf_counter() - start, cpu_seconds() - cpu))
    return {jobs: tuple(statistics.median(t) for t in zip(*pairs))
            for jobs, pairs in times.items()}


def row(name: str, count: int, seconds: dict[int, tuple[float, float]]) -> str:
    rates = [count / seconds[jobs][0] for jobs in JOBS]
    cpu = [1000 * seconds[jobs][1] / count for jobs in JOBS]
    return (f"{name:<34}{count:>6}{rates[0]:>10.2f}{rates[1]:>10.2f}{rates[1] / rates[0]:>8.2f}"
            f"{cpu[0]:>10.0f}{cpu[1]:>10.0f}")


def main(argv):
    del argv
    with tempfile.TemporaryDirectory(prefix="fcc_benchmark_") as root:
        measure(Path(root))


def measure(root: Path) -> None:
    from fcc_dataset.pairs import make_pairs

    rows, videos, listed = make_inputs(root)

    def build(jobs: int, round_: int) -> None:
        pipeline.build(rows, root / f"build_{jobs}_{round_}", videos_dir=videos,
                       download=False, jobs=jobs)

    build_times = timed_rounds(build)
    faces = root / "build_1_0" / "LR"
    sources = len(list((faces / "NoMakeup").glob("*.jpg")))
    references = len(list((faces / "AnyMakeup").glob("*.jpg")))
    with_face = sum(pipeline.count_files(root / "build_1_0")[f] for f in ("LR/NoMakeup",
                                                                         "LR/StrongMakeup"))

    def pairs(jobs: int, round_: int) -> None:
        make_pairs(faces / "NoMakeup", faces / "AnyMakeup", root / f"pairs_{jobs}_{round_}",
                   pairs=FLAGS.pairs, jobs=jobs)

    pair_times = timed_rounds(pairs)
    pairs_made = len(list((root / "pairs_1_0").glob("*.jpg")))

    print(f"{os.cpu_count()} CPU cores; {FLAGS.videos} videos of {FLAGS.seconds:g} s at "
          f"{FLAGS.fps} fps ({sample.SIZE}x{sample.SIZE}), {listed} listed frames "
          f"({with_face} with a face); pairs: {sources} sources x {FLAGS.pairs} of "
          f"{references} references; median of {FLAGS.rounds} rounds\n")
    print(f"{'':<34}{'count':>6}{'jobs=1 /s':>10}{'jobs=2 /s':>10}{'ratio':>8}"
          f"{'CPU ms 1':>10}{'CPU ms 2':>10}")
    print(row("frames (extract, detect, crop)", listed, build_times))
    print(row("aligned pairs (landmarks, warp)", pairs_made, pair_times))
    print("\n/s: items per wall-clock second; CPU ms 1 / 2: CPU milliseconds per item with "
          "jobs=1 / jobs=2")


if __name__ == "__main__":
    app.run(main)
