"""The trainers learn: a short run of each application, through its training and
prediction drivers, on data whose answer is known, beats on held-out data every
baseline that a model which has not learned reaches, by the margins of
`learning_margins` (measured there over seeds, and against trainers broken on purpose:
the loss negated, a learning rate of 0, the targets shuffled against the inputs).

Each run is 128 steps of a tiny model at a learning rate of 2e-3 (the defaults, 2e-4
decaying, learn too slowly for a test).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

import learning_margins
import tiny_configs
from applications.common import prediction, runtime, training
from applications.common.application import Application, Scoring
from applications.common.scoring import image_scores
from applications.makeup.application import MakeupTransfer
from applications.makeup.config import MakeupData
from applications.pix2pix.application import Pix2Pix
from applications.srresnet.application import SuperResolution
from div2k_data import write_div2k
from face_data import write_recoloured_pairs
from spl_tf.utils import image_io
from pix2pix_data import mean_target, negative, write_pairs

LEARNING_RATE = 2e-3
SIZE = 32  # of the pix2pix crops and the makeup faces


class Score(NamedTuple):
    psnr: float
    ssim: float


@dataclasses.dataclass
class Outcome:
    """The scores of a short run's model and of the baselines it must beat."""

    learned: Score
    baselines: dict[str, Score]  # what models that have not learned reach
    unreached: dict[str, Score] = dataclasses.field(default_factory=dict)  # shown, not asserted


def short_run(config: Any, seed: int) -> Any:
    """`config` at a fixed learning rate of LEARNING_RATE, seeded by `seed`."""
    return dataclasses.replace(config, training=dataclasses.replace(
        config.training, learning_rate=LEARNING_RATE, fixed_learning_rate=True, seed=seed))


def untrained_model(app: Application, config: Any, path: Path) -> Path:
    """The model `training.train` starts from (same seed, same weights), saved for predict."""
    with runtime.set_up(config.runtime, config.training):  # seeds as training does
        app.build_model(config).save(path)
    return path


def predicted(app: Application, data: Any, checkpoint: Path, output_dir: Path
              ) -> tuple[Path, dict | None]:
    """Predict the held-out split of `data` with `checkpoint`: (output folder, metrics)."""
    config = tiny_configs.predict(app.predict_config, data, checkpoint=checkpoint,
                                  output_dir=output_dir, batch_size=16)
    return prediction.predict(app, config)


def score_of(metrics: dict) -> Score:
    return Score(metrics["psnr"], metrics["ssim"])


def mean_score(targets: Path, output_of: Callable[[str], np.ndarray],
               scoring: Scoring = Scoring()) -> Score:
    """Mean PSNR and SSIM of `output_of(name)` against each PNG `name` of `targets`."""
    scores = [image_scores(image_io.read_rgb(path), output_of(path.name), scoring)
              for path in sorted(targets.glob("*.png"))]
    return Score(*map(float, np.mean(scores, axis=0)))


def read(folder: Path) -> Callable[[str], np.ndarray]:
    return lambda name: image_io.read_rgb(folder / name)


def pix2pix_outcome(root: Path, seed: int = 0) -> Outcome:
    """Negative -> photo on crops of the astronaut photo, scored on crops of the coffee
    photo. Baselines: the training targets' mean image (the best a model that ignores
    its input does under PSNR) and the untrained model."""
    app = Pix2Pix()
    data = write_pairs(root / "data", {"train": 256, "val": 2, "test": 16}, input_of=negative,
                       photos={"val": "coffee", "test": "coffee"})
    config = short_run(tiny_configs.pix2pix(data, epochs=4, ngf=8, batch_size=8), seed)
    training.train(app, config, root / "run")
    out, learned = predicted(app, config.data, root / "run" / "model.keras", root / "learned")
    _, untrained = predicted(app, config.data,
                             untrained_model(app, config, root / "untrained.keras"),
                             root / "untrained")
    mean = mean_target(data / "train")
    return Outcome(score_of(learned), {
        "mean target": mean_score(out / "target", lambda name: mean),
        "untrained": score_of(untrained), "input": score_of(learned["baseline"])})


def sr_outcome(root: Path, seed: int = 0) -> Outcome:
    """x4 of photos averaged over 4x4 blocks (the easy degradation), scored on two unseen
    photos (on Y, as SR papers). Baseline: the untrained model; a run this short stays
    below nearest-neighbour upscaling (shown, not asserted).

    SSIM is asserted, not PSNR: SPL compares L2-normalised profiles, so it leaves an
    image's overall brightness free, which a run this short has not found yet (its PSNR
    is below the untrained model's mid-grey; at twice the steps, above).
    """
    app = SuperResolution()
    # 75 training images of 128x96 (hubble_deep_field, black but for the stars, would
    # score any dark output well: not among the held-out photos)
    data = write_div2k(root / "data", degradation="unknown", size=(640, 480), tiles=5,
                       interpolation=cv2.INTER_AREA, train=("astronaut", "coffee", "rocket"),
                       valid=("chelsea", "immunohistochemistry"))
    config = short_run(tiny_configs.srresnet(data, epochs=7, lr_crop_size=16, batch_size=4,
                                             filters=16), seed)
    training.train(app, config, root / "run")
    out, learned = predicted(app, config.data, root / "run" / "model.keras", root / "learned")
    _, untrained = predicted(app, config.data,
                             untrained_model(app, config, root / "untrained.keras"),
                             root / "untrained")

    def nearest(name: str) -> np.ndarray:
        lr = image_io.read_rgb(out / "input" / name)
        return lr.repeat(config.data.scale, axis=0).repeat(config.data.scale, axis=1)

    scoring = app.scoring(config)
    return Outcome(score_of(learned), {"untrained": score_of(untrained)},
                   {"nearest": mean_score(out / "target", nearest, scoring),
                    "bicubic": score_of(learned["baseline"])})


def makeup_outcome(root: Path, seed: int = 0) -> Outcome:
    """Recoloured faces with perfectly warped references (each reference is the
    answer), scored on unseen placements and colours (the predict command does not
    score makeup: no ground truth in general). Baselines: the source (no makeup) and
    the untrained model."""
    app = MakeupTransfer()
    for data_seed, (split, count) in enumerate({"train": 256, "val": 2, "test": 16}.items()):
        write_recoloured_pairs(root / "data" / split, count, SIZE, data_seed)
    config = short_run(tiny_configs.makeup(root / "data", epochs=4, ngf=8, image_size=SIZE,
                                           batch_size=8), seed)
    training.train(app, config, root / "run")
    data = MakeupData(data_dir=str(root / "data"), image_size=SIZE)
    out, _ = predicted(app, data, root / "run" / "model.keras", root / "learned")
    untrained, _ = predicted(app, data, untrained_model(app, config, root / "untrained.keras"),
                             root / "untrained")
    answers = out / "reference"
    return Outcome(mean_score(answers, read(out / "prediction")), {
        "source": mean_score(answers, read(out / "input")),
        "untrained": mean_score(answers, read(untrained / "prediction"))})


def assert_learned(outcome: Outcome, margins: dict[str, float]) -> None:
    """Each metric of `margins` at least its margin above the best baseline's."""
    for metric, margin in margins.items():
        best = max(getattr(score, metric) for score in outcome.baselines.values())
        assert getattr(outcome.learned, metric) >= best + margin, (metric, outcome)


def test_pix2pix_learns(tmp_path):
    assert_learned(pix2pix_outcome(tmp_path), learning_margins.PIX2PIX)


def test_srresnet_learns(tmp_path):
    assert_learned(sr_outcome(tmp_path), learning_margins.SRRESNET)


def test_makeup_learns(tmp_path):
    assert_learned(makeup_outcome(tmp_path), learning_margins.MAKEUP)
