"""Measures what `learning_margins` records: each learning test's run over training
seeds, and with the trainer broken three ways, printed as the table kept there.

    TF_CPP_MIN_LOG_LEVEL=3 python tests/measure_learning.py [--seeds=3] [--apps=pix2pix,...]

The breakages are patched in here, in this process only: the loss negated (trains
away from the target), a learning rate of 0 (the optimizer does nothing), and each
batch's targets rolled by one against its inputs (targets shuffled).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import tempfile
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tensorflow as tf  # noqa: E402

import pix2pix_data  # noqa: E402
import test_learning  # noqa: E402
from applications.common import runtime  # noqa: E402
from applications.makeup.application import MakeupTransfer  # noqa: E402
from applications.pix2pix import demo  # noqa: E402
from applications.pix2pix.application import Pix2Pix  # noqa: E402
from applications.srresnet.application import SuperResolution  # noqa: E402
from spl_tf import losses  # noqa: E402


def demo_outcome(root: Path, seed: int) -> test_learning.Outcome:
    """The full `make demo` (8 epochs; its own seed is 0), with the mean training target
    as a further baseline."""
    config = demo.config

    def seeded(*args):
        settings = config(*args)
        return dataclasses.replace(settings, training=dataclasses.replace(settings.training,
                                                                          seed=seed))

    with mock.patch.object(demo, "config", seeded):
        metrics = demo.run(root, epochs=8)
    mean = pix2pix_data.mean_target(root / "data" / "train")
    return test_learning.Outcome(test_learning.score_of(metrics), {
        "sketch": test_learning.score_of(metrics["baseline"]),
        "mean target": test_learning.mean_score(root / "predictions" / "target",
                                                lambda name: mean)})


OUTCOMES = {"pix2pix": test_learning.pix2pix_outcome, "srresnet": test_learning.sr_outcome,
            "makeup": test_learning.makeup_outcome, "demo": demo_outcome}


@contextlib.contextmanager
def negated_loss():
    """Every profile loss (SPL, MakeupLoss) negated: training climbs away from the target."""
    loss = losses._ProfileLoss.__call__
    with mock.patch.object(losses._ProfileLoss, "__call__",
                           lambda self, *args, **kwargs: -loss(self, *args, **kwargs)):
        yield


@contextlib.contextmanager
def learning_rate_zero():
    with mock.patch.object(runtime, "learning_rate", lambda config, steps: 0.0):
        yield


@contextlib.contextmanager
def shuffled_targets():
    """Each training batch's targets rolled by one example against its inputs."""
    def rolled(training_data):
        def patched(app, config):
            data = training_data(app, config)
            return dataclasses.replace(data, train=lambda first: data.train(first).map(
                lambda x, y: (x, tf.roll(y, 1, axis=0))))
        return patched

    with contextlib.ExitStack() as stack:
        for app in (Pix2Pix, SuperResolution, MakeupTransfer):
            stack.enter_context(mock.patch.object(app, "training_data",
                                                  rolled(app.training_data)))
        yield


VARIANTS = {"learned": contextlib.nullcontext, "negated loss": negated_loss,
            "learning rate 0": learning_rate_zero, "shuffled targets": shuffled_targets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3,
                        help="training seeds of the working trainer")
    parser.add_argument("--broken_seeds", type=int, default=2, help="... and of each broken one")
    parser.add_argument("--apps", default="pix2pix,srresnet,makeup",
                        help=f"of {', '.join(OUTCOMES)}")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    for app in args.apps.split(","):
        for variant in args.variants.split(","):
            seeds = range(args.seeds if variant == "learned" else args.broken_seeds)
            for seed in seeds:
                with tempfile.TemporaryDirectory() as tmp, VARIANTS[variant]():
                    outcome = OUTCOMES[app](Path(tmp), seed)
                baselines = "  ".join(f"{name} {s.psnr:.2f} / {s.ssim:.3f}" for name, s in
                                      {**outcome.baselines, **outcome.unreached}.items())
                print(f"{app:9s} {variant:17s} seed {seed}: {outcome.learned.psnr:6.2f} dB / "
                      f"{outcome.learned.ssim:.3f}   {baselines}", flush=True)


if __name__ == "__main__":
    main()
