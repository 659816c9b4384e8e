"""Prediction as the original predictor wrote it, plus a titled grid and metrics.

`predict(app, config)` loads a `.keras` checkpoint or an exported SavedModel and
writes, for every batch the application gives: `input/`, `prediction/` and, with
targets, `target/` (or the application's target folder) PNGs named like the source
files, `grid.png` (titled columns) and, when the application scores its
predictions, `metrics.json` (PSNR and SSIM of the predictions and of its baseline).
A checkpoint from a run folder brings the run's data settings as defaults
(`with_run_settings`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from applications.common import checkpoints, outputs, plots, run_record
from applications.common import config as config_lib
from applications.common.application import Application, Batch, Predictor, Scoring
from fcc_dataset import image_io, locks
from fcc_dataset.errors import InputError
from spl_tf import metrics


def with_run_settings(app: Application, config: Any, given: set[str]) -> Any:
    """`config` with the data settings of the run its checkpoint comes from.

    Settings named in `given` (flags on the command line) win; the others take the
    run's values, so a run trained at 128x128 predicts at 128x128 unless told not to.
    """
    settings = config.prediction
    record = run_record.for_prediction(
        Path(settings.checkpoint) if settings.checkpoint else None,
        Path(settings.model_dir) if settings.model_dir else None)
    if record is None:
        return config
    if record.get("application") != app.name:
        raise InputError(f"the checkpoint comes from a {record.get('application')} run; "
                         f"this is the {app.name} predictor")
    data_class = type(config.data)
    fields = {f.name for f in dataclasses.fields(data_class)}
    values = {k: v for k, v in record["config"].get("data", {}).items() if k in fields}
    values.update({k: getattr(config.data, k) for k in fields & given})
    return dataclasses.replace(config, data=data_class(**values))


def predict(app: Application, config: Any) -> tuple[Path, dict | None]:
    """Predict what `config` asks for: the output folder, and the metrics if scored.

    The checkpoint is loaded and the inputs checked before anything is written; the
    output folder is then locked and claimed (`outputs.claim`), so a refused command
    leaves nothing behind and a killed one is finished by its rerun.
    """
    settings = config.prediction
    split = settings.split or app.default_split
    config = dataclasses.replace(config, prediction=dataclasses.replace(settings, split=split))
    model_dir = Path(settings.model_dir) if settings.model_dir else None
    checkpoint = Path(settings.checkpoint) if settings.checkpoint else model_dir / "model.keras"
    if settings.output_dir:
        output_dir = Path(settings.output_dir)
    else:
        output_dir = model_dir / "predictions" / ("images" if settings.input_dir else split)
    owned = ["input", "prediction", app.target_folder, "grid.png", "metrics.json"]
    outputs.check_apart([output_dir / name for name in [*owned, PROVENANCE_FILE]],
                        _inputs(config, checkpoint), image_folders=IMAGE_FOLDERS)
    predictor = app.inference(config, load_predictor(checkpoint))
    batches = _checked(app.prediction_batches(config))
    with locks.hold(output_dir, "--output_dir", "prediction"):
        outputs.claim(output_dir, PROVENANCE_FILE, _provenance(checkpoint, config), owned,
                      settings.overwrite)
        result = write_predictions(predictor, batches, output_dir,
                                   baseline=app.baseline(config), scoring=app.scoring(config),
                                   target_folder=app.target_folder)
    return output_dir, result


PROVENANCE_FILE = "predict.json"
# The flags of folders whose images prediction reads: it writes nothing into them.
IMAGE_FOLDERS = ("--input_dir", "--hr_dir")


def _inputs(config: Any, checkpoint: Path) -> dict[str, Path | None]:
    """Every path a predict config reads, by flag (all its path settings but the output)."""
    found = {"--checkpoint": checkpoint}
    for section, field, _ in config_lib.leaves(type(config)):
        value = getattr(getattr(config, section), field.name)
        if field.metadata.get("path") and field.name != "output_dir" and value:
            found[f"--{field.name}"] = Path(value)
    return found


def _checked(batches: Iterable[Batch]) -> Iterator[Batch]:
    """`batches`, once the first one has been read: the inputs are found and readable
    (each application checks its files before its first batch)."""
    iterator = iter(batches)
    first = next(iterator, None)
    if first is None:
        raise InputError("nothing to predict: no images were given")
    return itertools.chain([first], iterator)


def _provenance(checkpoint: Path, config: Any) -> dict[str, Any]:
    """What the predictions in a folder come from: the checkpoint as it is now, and
    the images."""
    stat = checkpoint.stat()
    settings = config.prediction
    return {"checkpoint": str(checkpoint), "checkpoint_size": stat.st_size,
            "checkpoint_mtime_ns": stat.st_mtime_ns,
            "images": settings.input_dir or f"split {settings.split}",
            "data": dataclasses.asdict(config.data)}


def print_summary(output_dir: Path, result: dict | None) -> None:
    print(f"wrote {output_dir}")
    if result:
        print(json.dumps({k: v for k, v in result.items() if k != "per_image"}, indent=2))


def load_predictor(path: Path) -> Predictor:
    """A `.keras` checkpoint or an exported SavedModel folder, as a function."""
    if path.is_file() and path.suffix == ".keras":
        checkpoints.check_readable(path)
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
    scoring: Scoring | None = Scoring(),
    target_folder: str = "target",
    grid_rows: int = 8,
) -> dict | None:
    """Write every prediction; return the metrics (None without targets or scoring).

    `target_folder` names the folder of the second images of the batches (e.g.
    "reference" for makeup transfer, where they are shown, not scored).
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
            image_io.write_rgb(output_dir / target_folder / f"{name}.png", image)
        if scoring is not None:
            scores += _scores(targets, outputs, names, scoring)
            if baseline is not None:
                guess = image_io.to_uint8(baseline[1](inputs))
                baseline_scores += _scores(targets, guess, names, scoring)
        rows += [[i, o, t] for i, o, t in zip(shown_inputs, outputs, targets)][
            : grid_rows - len(rows)]
    if not rows:
        raise InputError(f"nothing to predict: no images were given for {output_dir}")
    titles = ("input", "prediction", target_folder)[:len(rows[0])]
    plots.image_table(rows, titles, output_dir / "grid.png")
    if not scores:
        return None
    result = {"images": len(scores), **_mean(scores), "per_image": scores}
    if baseline is not None:
        result["baseline"] = {"name": baseline[0], **_mean(baseline_scores)}
    image_io.write_bytes(output_dir / "metrics.json", json.dumps(result, indent=2).encode())
    return result


def _scores(targets, outputs, names, scoring: Scoring) -> list[dict]:
    true, pred = image_io.to_float(targets), image_io.to_float(outputs)
    options = {"shave": scoring.shave, "y_channel": scoring.y_channel}
    psnr = keras.ops.convert_to_numpy(metrics.psnr(true, pred, **options))
    ssim = keras.ops.convert_to_numpy(metrics.ssim(true, pred, **options))
    return [
        {"name": n, "psnr": float(p), "ssim": float(s)} for n, p, s in zip(names, psnr, ssim)
    ]


def _mean(scores: list[dict]) -> dict:
    # Identical images have infinite PSNR; keep JSON valid and the mean finite.
    psnr = [min(s["psnr"], 100.0) for s in scores]
    return {"psnr": float(np.mean(psnr)), "ssim": float(np.mean([s["ssim"] for s in scores]))}
