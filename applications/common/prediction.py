"""Prediction output as the original predictor wrote it, plus a grid and metrics.

For a split: `input/`, `prediction/`, `target/` PNGs named like the source
files, `grid.png` (input | prediction | target rows) and `metrics.json` (PSNR
and SSIM of the predictions and of a baseline, against the targets).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import keras
import numpy as np

from applications.common import image_io
from applications.common.errors import InputError
from spl_tf import metrics

Predictor = Callable[[np.ndarray], np.ndarray]
# (inputs, targets or None, names) with inputs / targets float32 in [-1, 1]
Batch = tuple[np.ndarray, np.ndarray | None, list[str]]


def paths_from_flags(default_split: str) -> tuple[Path, Path, str]:
    """(checkpoint, output folder, split) from the shared prediction flags."""
    from applications.common.flags import FLAGS

    model_dir = Path(FLAGS.model_dir) if FLAGS.model_dir else None
    split = FLAGS.split or default_split
    if FLAGS.checkpoint:
        checkpoint = Path(FLAGS.checkpoint)
    elif model_dir is not None:
        checkpoint = model_dir / "model.keras"
    else:
        raise InputError("give --checkpoint or --model_dir")
    if FLAGS.output_dir:
        output_dir = Path(FLAGS.output_dir)
    elif model_dir is not None:
        output_dir = model_dir / "predictions" / ("images" if FLAGS.input_dir else split)
    else:
        raise InputError("give --output_dir (or --model_dir)")
    return checkpoint, output_dir, split


def print_summary(output_dir: Path, result: dict | None) -> None:
    print(f"wrote {output_dir}")
    if result:
        print(json.dumps({k: v for k, v in result.items() if k != "per_image"}, indent=2))


def load_predictor(path: Path) -> Predictor:
    """A `.keras` checkpoint or an exported SavedModel folder, as a function."""
    if path.is_file() and path.suffix == ".keras":
        model = keras.models.load_model(path)
        return lambda x: keras.ops.convert_to_numpy(model(x, training=False))
    if path.is_dir() and (path / "saved_model.pb").is_file():
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))  # keep it: it owns the variables
        return lambda x: loaded.serve(tf.constant(x, tf.float32)).numpy()
    raise InputError(
        f"{path}: expected a .keras checkpoint or an exported SavedModel folder "
        "(one holding saved_model.pb)"
    )


def write_predictions(
    predict: Predictor,
    batches: Iterable[Batch],
    output_dir: Path,
    baseline: tuple[str, Predictor] | None = None,
    y_channel: bool = False,
    shave: int = 0,
    grid_rows: int = 8,
    target_name: str = "target",
    score: bool = True,
) -> dict | None:
    """Write every prediction; return the metrics (None when there are no targets).

    `target_name` names the folder of the second images of the batches (e.g.
    "reference" for makeup transfer, where they are shown, not scored: `score`
    False).
    """
    rows, scores, baseline_scores = [], [], []
    for inputs, targets, names in batches:
        outputs = image_io.to_uint8(predict(inputs))
        shown_inputs = image_io.to_uint8(inputs[..., :3])
        for name, image in zip(names, shown_inputs):
            image_io.write_rgb(output_dir / "input" / f"{name}.png", image)
        for name, image in zip(names, outputs):
            image_io.write_rgb(output_dir / "prediction" / f"{name}.png", image)
        if targets is None:
            rows += [[i, o] for i, o in zip(shown_inputs, outputs)][: grid_rows - len(rows)]
            continue
        targets = image_io.to_uint8(targets)
        for name, image in zip(names, targets):
            image_io.write_rgb(output_dir / target_name / f"{name}.png", image)
        if score:
            scores += _scores(targets, outputs, names, y_channel, shave)
        if score and baseline is not None:
            guess = image_io.to_uint8(baseline[1](inputs))
            baseline_scores += _scores(targets, guess, names, y_channel, shave)
        rows += [
            [_fit(i, t.shape), o, t] for i, o, t in zip(shown_inputs, outputs, targets)
        ][: grid_rows - len(rows)]
    if not rows:
        raise InputError(f"nothing to predict: no images were given for {output_dir}")
    image_io.write_rgb(output_dir / "grid.png", image_io.image_grid(_same_size(rows)))
    if not scores:
        return None
    result = {"images": len(scores), **_mean(scores), "per_image": scores}
    if baseline is not None:
        result["baseline"] = {"name": baseline[0], **_mean(baseline_scores)}
    image_io.write_bytes(output_dir / "metrics.json", json.dumps(result, indent=2).encode())
    return result


def _scores(targets, outputs, names, y_channel, shave) -> list[dict]:
    true, pred = image_io.to_float(targets), image_io.to_float(outputs)
    psnr = keras.ops.convert_to_numpy(metrics.psnr(true, pred, shave=shave, y_channel=y_channel))
    ssim = keras.ops.convert_to_numpy(metrics.ssim(true, pred, shave=shave, y_channel=y_channel))
    return [
        {"name": n, "psnr": float(p), "ssim": float(s)} for n, p, s in zip(names, psnr, ssim)
    ]


def _mean(scores: list[dict]) -> dict:
    # Identical images have infinite PSNR; keep JSON valid and the mean finite.
    psnr = [min(s["psnr"], 100.0) for s in scores]
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean([s["ssim"] for s in scores]))}


def _fit(image: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour resize for display (e.g. a small SR input beside its output)."""
    if image.shape[:2] == tuple(shape[:2]):
        return image
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)


def _same_size(rows: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    shape = rows[0][-1].shape
    return [[_fit(image, shape) for image in row] for row in rows]
