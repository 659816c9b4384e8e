"""Prediction as the original predictor wrote it, plus a titled grid and metrics.

`predict(app, config)` loads a `.keras` checkpoint or an exported SavedModel and
writes, for every batch the application gives: `input/`, `prediction/` and, with
targets, `target/` (or the application's target folder) PNGs named like the source
files, `grid.png` (titled columns, thumbnails) and, when the application scores its
predictions, `metrics.json`: the metrics of `--metrics` (`applications.common.
evaluation`; PSNR and SSIM by default) of the predictions, the paired ones also of its
baseline. The weights of the learned metrics are found (or downloaded) before the model is
loaded: a missing one stops the command before anything is read or written.
Images stay uint8 from the files to the files, and of a batch only one set of outputs
exists at a time: memory grows with the images' uint8 size only.
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

from applications.common import checkpoints, loss_expressions, outputs, plots, run_record
from applications.common import config as config_lib
from applications.common.config import EvaluationConfig
from applications.common.application import (Application, Batch, Inference, Predictor,
                                             as_uint8)
from applications.common.evaluation import Metrics, mean_scores
from spl_tf.utils import files, image_io, locks
from spl_tf.utils.errors import InputError


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
    scoring = app.scoring(config)
    metrics = None if scoring is None else Metrics(
        getattr(config, "evaluation", EvaluationConfig()), scoring, settings.batch_size)
    predictor = app.inference(config, load_predictor(checkpoint))
    batches = _checked(app.prediction_batches(config))
    with locks.hold(output_dir, "--output_dir", "prediction"):
        outputs.claim(output_dir, PROVENANCE_FILE, _provenance(checkpoint, config), owned,
                      settings.overwrite)
        result = write_predictions(predictor, batches, output_dir,
                                   baseline=app.baseline(config), metrics=metrics,
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
        loss_expressions.register()  # the loss of a run trained with an expression
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
    predict: Inference,
    batches: Iterable[Batch],
    output_dir: Path,
    baseline: tuple[str, Inference] | None = None,
    metrics: Metrics | None = None,
    target_folder: str = "target",
    grid_rows: int = 8,
) -> dict | None:
    """Write every prediction; return the metrics (None without targets or `metrics`).

    `predict` and the baseline's function map a batch's inputs to uint8 outputs (see
    `Application.inference`). `target_folder` names the folder of the second images
    of the batches (e.g. "reference" for makeup transfer, where they are shown, not
    scored). One batch is held at a time and, of it, one set of outputs: the
    baseline's are scored and dropped before the model's are made; the grid keeps
    thumbnails. So memory is bounded by a batch's uint8 images, whatever their size.
    FID and KID, when asked, compare the written `prediction/` and target folders.
    """
    rows, scores, baseline_scores = [], [], []
    for batch in batches:
        shown, scored, baseline_scored = _write_batch(
            predict, batch, output_dir, baseline, metrics, target_folder, grid_rows - len(rows))
        del batch  # the next batch is read without this one's images held
        rows += shown
        scores += scored
        baseline_scores += baseline_scored
    if not rows:
        raise InputError(f"nothing to predict: no images were given for {output_dir}")
    titles = ("input", "prediction", target_folder)[:len(rows[0])]
    plots.image_table(rows, titles, output_dir / "grid.png")
    if not scores:
        return None
    of_sets = metrics.of_folders(output_dir / "prediction", output_dir / target_folder)
    result = {"images": len(scores), **mean_scores(scores),
              **{name: entry["value"] for name, entry in of_sets.items()},
              "metrics": metrics.report(scores, of_sets), "per_image": scores}
    if baseline is not None:
        result["baseline"] = {"name": baseline[0], **mean_scores(baseline_scores)}
    files.write_bytes(output_dir / "metrics.json", json.dumps(result, indent=2).encode())
    return result


def _write_batch(predict: Inference, batch: Batch, output_dir: Path,
                 baseline: tuple[str, Inference] | None, metrics: Metrics | None,
                 target_folder: str, grid_rows: int
                 ) -> tuple[list[list[np.ndarray]], list[dict], list[dict]]:
    """Write one batch's images: (up to `grid_rows` grid rows, as thumbnails; its
    scores; its baseline's scores)."""
    inputs, targets, names = batch
    shown_inputs = as_uint8(inputs[..., :3])
    _write_images(output_dir / "input", names, shown_inputs)
    scored = targets is not None and metrics is not None
    baseline_scores = []
    if targets is not None:
        targets = as_uint8(targets)
        _write_images(output_dir / target_folder, names, targets)
        if scored and baseline is not None:
            baseline_scores = metrics.score(targets, baseline[1](inputs), names)
    outputs = predict(inputs)
    _write_images(output_dir / "prediction", names, outputs)
    scores = metrics.score(targets, outputs, names) if scored else []
    columns = [shown_inputs, outputs] + ([] if targets is None else [targets])
    rows = [[plots.thumbnail(image) for image in row] for row in list(zip(*columns))[:grid_rows]]
    return rows, scores, baseline_scores


def _write_images(folder: Path, names: list[str], images: np.ndarray) -> None:
    for name, image in zip(names, images):
        image_io.write_rgb(folder / f"{name}.png", image)
