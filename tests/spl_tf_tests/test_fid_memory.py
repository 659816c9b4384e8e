"""A folder's FID statistics through the real Inception-v3 take memory flat in the number of
images: the folder streams through in batches, only running float64 sums are kept.

Measured in a fresh process (nothing else has raised its high-water mark) on the FID
network with the seeded weights of test_fid.py, in the published file format: the
statistics of a folder of SMALL images, then of one of LARGE = 3 x SMALL images, at the
same batch size. The process's peak resident memory (ru_maxrss, which only grows) must
not rise by more than a little from the first to the second, and the peak of Python's
own allocations (tracemalloc: decoded images, features, sums) must be the same for both
but for the list of file names.

100 against 300 images at batches of 25, after a pass over the first folder that lets
TensorFlow's and the C library's allocators settle (the high-water mark rises over the
first few batches and float64 updates, then stays). Marked slow (`make test-slow`):
Inception resizes every image to 299x299, whatever its size, and runs at 3-7 images a
second on this project's 2-core test machine, two to three minutes for the test. It tells
streaming from holding: a folder run through the network at once needs the activations of
all its images (about 30 MB an image), and keeping the resized images or the features
grows the peak by 1 MB or 8 kB an image (measured: 0.07 MB and 82 kB more for 300 images
than for 100). The distance itself (the square root of a 2048 x 2048 matrix, a minute on
2 cores and the same for any number of images) is test_fid.py's.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from golden_metrics import seeded
from spl_tf.utils import image_io
from torch_files import write_state_dict

GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "metrics_reference.json").read_text())
WARM_UP = 1
# From the first folder to the second: what the high-water mark may rise by (less than the
# resized copies of 30 more images would take), and what Python's peak may (the longer
# list of file names: a few hundred bytes an image).
RSS_SLACK_MB = 32
TRACED_SLACK_BYTES_PER_IMAGE = 1000

# argv: the weights file, the two folders, the batch size, the warm-up passes.
MEASURE = """
import json, resource, sys, tracemalloc
import tensorflow as tf
from spl_tf import fid

# One op at a time: the peak is the computation's, not that of whichever of Inception's
# parallel branches the scheduler happened to overlap (tens of MB from run to run).
tf.config.threading.set_inter_op_parallelism_threads(1)
weights, folders, batch, warm_up = sys.argv[1], sys.argv[2:4], *map(int, sys.argv[4:6])
network = fid.InceptionFeatures(weights)
found = []
# The first passes trace the network and let the allocators settle (tracemalloc's own
# tables among them: each pass runs as the measured ones do).
for folder in [folders[0]] * warm_up + folders:
    tracemalloc.start()
    statistics = fid.folder_statistics(folder, network, batch_size=batch)
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    found.append({"count": statistics.count, "traced": traced,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
print(json.dumps(found))
"""


def _peaks(tmp_path: Path, small: int, large: int, batch: int) -> tuple[dict, dict]:
    """The peaks of the statistics of a folder of `small` images, then of `large`."""
    weights = write_state_dict(tmp_path / "pt_inception_seeded.pth",
                               seeded.state_dict(GOLDEN["fid"]["shapes"], GOLDEN["seed"]))
    rng = np.random.RandomState(0)
    for count in (small, large):
        for i in range(count):
            image_io.write_rgb(tmp_path / str(count) / f"{i:04d}.png",
                               rng.randint(0, 256, (32, 32, 3)).astype(np.uint8))
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(weights), str(tmp_path / str(small)),
         str(tmp_path / str(large)), str(batch), str(WARM_UP)],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    *_, first, second = json.loads(result.stdout.splitlines()[-1])
    print(f"{small} images: {first}\n{large} images: {second}")
    assert (first["count"], second["count"]) == (small, large)
    return first, second


@pytest.mark.slow  # a memory run: make test-slow
def test_folder_statistics_through_inception_take_memory_flat_in_the_number_of_images(
        tmp_path):
    small, large = 100, 300
    first, second = _peaks(tmp_path, small, large, batch=25)
    assert second["rss_mb"] - first["rss_mb"] < RSS_SLACK_MB, (first, second)
    assert (second["traced"] - first["traced"]
            < TRACED_SLACK_BYTES_PER_IMAGE * (large - small)), (first, second)
