"""Score a folder of predictions against a folder of targets with the field's metrics.

    spl-eval --pred_dir=OUT/prediction --target_dir=OUT/target --metrics=psnr,ssim,lpips,fid,kid

Prints JSON: each metric's value, the images it used and the weight files it used. PSNR,
SSIM and LPIPS pair each prediction with the target of the same name (without its
extension, as the predict commands write them; every image needs its partner) and report
means over the pairs, PSNR and SSIM as the predict commands do (on RGB; `--y_channel
--shave=4` as SR papers report x4). FID and KID compare the two folders as sets
(pytorch-fid's and torch-fidelity's numbers). LPIPS, FID and KID need weights: the
published files, downloaded on first use into $SPL_TF_CACHE/weights (or --weights_dir,
or from the mirror $SPL_TF_WEIGHTS_MIRROR) and checked against their published digests,
or local copies (--lpips_weights, --inception_weights). A metric whose weights cannot be
had stops the command before any image is read; PSNR and SSIM need none.
`--output=FILE` also writes the report with every image's scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from absl import flags

from applications.common import config
from applications.evaluation import folders as folders_lib
from applications.evaluation.config import EvalConfig
from spl_tf.utils import cli, files
from spl_tf.utils.errors import InputError

REQUIRED = ("pred_dir", "target_dir")


def define_flags(flag_values: flags.FlagValues) -> None:
    """The flags of this command, defined when it runs (importing defines none)."""
    config.define_flags(EvalConfig, flag_values, required=REQUIRED)


def evaluate(settings: EvalConfig) -> dict[str, Any]:
    """The report of `spl-eval`: `{"pred_dir", "target_dir", "metrics": {metric: {"value",
    "images", "weights", ...}}, "per_image": [{"name", metric: value}]}`, also written to
    `--output` when given.

    Everything that can be checked without reading an image is checked first: the folders,
    the pairs, the output, the number of images KID needs, and the weights (found, or
    downloaded, and their networks built).
    """
    from applications.common.application import Scoring
    from applications.common.evaluation import OF_SETS, PAIRED, Metrics, check_kid_sizes
    from spl_tf import fid

    where = settings.folders
    pred_dir, target_dir = (_folder(getattr(where, name), f"--{name}") for name in REQUIRED)
    asked = settings.evaluation.names
    pairs = folders_lib.pairs(pred_dir, target_dir) if set(asked) & set(PAIRED) else []
    if set(asked) & set(OF_SETS):
        check_kid_sizes(settings.evaluation, {"predictions": len(fid.folder_images(pred_dir)),
                                              "targets": len(fid.folder_images(target_dir))})
    output = _output(where)
    metrics = Metrics(settings.evaluation, Scoring(where.y_channel, where.shave),
                      where.batch_size)
    scores = []
    for start in range(0, len(pairs), where.batch_size):
        chunk = pairs[start:start + where.batch_size]
        targets, predictions = zip(*map(folders_lib.read, chunk))
        scores += metrics.score(targets, predictions, [pair.prediction.name for pair in chunk])
    of_sets = metrics.of_folders(pred_dir, target_dir)
    report = {"pred_dir": str(pred_dir), "target_dir": str(target_dir),
              "metrics": metrics.report(scores, of_sets), "per_image": scores}
    if output is not None:
        files.write_bytes(output, json.dumps(report, indent=2).encode() + b"\n")
    return report


def _folder(value: str | None, flag: str) -> Path:
    if not value:
        raise InputError(f"give {flag} (a folder of images)")
    if not Path(value).is_dir():
        raise InputError(f"{flag}={value}: no such folder")
    return Path(value)


def _output(where) -> Path | None:
    """The report file; an existing one only with --overwrite."""
    if not where.output:
        return None
    output = Path(where.output)
    if output.is_dir():
        raise InputError(f"--output={output} is a folder; give a file name (report.json)")
    if output.exists() and not where.overwrite:
        raise InputError(f"--output={output} exists; give --overwrite to replace it")
    return output


def main() -> None:
    cli.import_quietly("tensorflow")  # only now: --help needs none
    report = evaluate(config.from_flags(EvalConfig, flags.FLAGS))
    print(json.dumps({k: v for k, v in report.items() if k != "per_image"}, indent=2))


def entry_point() -> None:
    cli.run(main, define_flags)


if __name__ == "__main__":
    entry_point()
