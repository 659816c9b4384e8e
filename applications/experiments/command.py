"""Train a named set of runs on one dataset, score them alike, and write the comparison.

    spl-experiment --experiment_dir=EXP                                  # smoke: minutes, CPU
    spl-experiment --experiment_dir=EXP --preset=translation --data_dir=DIR/facades
    spl-experiment --experiment_dir=EXP --preset=super_resolution --data_dir=DIR/div2k \\
        --sr_test_dir=DIR/sr_benchmarks
    spl-experiment --experiment_dir=EXP --add='SPL + 0.5 * GPL; CPL' --seeds=3

Presets: `translation` = L1, L1 + cGAN (pix2pix), SPL (the paper), SPL + cGAN, SPL +
multi-scale discriminators + feature matching, on a pix2pix dataset; `super_resolution`
= L1 and SPL on DIV2K with SRResNet, scored on the SR test sets; `smoke` = the
translation entries on the demo's sketch -> photo crops, small, on a CPU in minutes.
`--add` extends a preset with loss expressions (`SPL + 0.1 * ContextualLoss(...)`, the
trainers' `--loss` grammar). Every entry of a seed starts from the same initial weights
and sees the same batches for the same steps.

Each entry is an ordinary run folder, EXP/runs/ENTRY-seedK/ (`spl-pix2pix-train
--model_dir=` resumes it alone): rerunning the same command resumes an experiment where
it stopped, and finished runs are not trained again. Each run is scored on the test
images during training (`--eval_points`) and, when done, with PSNR, SSIM, LPIPS, FID
and KID (`--metrics`). Where the weights of LPIPS or Inception cannot be had, their
columns say "weights not available" and everything else runs. Writes EXP/results.md,
results.csv (a row per entry: mean and spread over `--seeds`), grid.png (the same test
images, input | an entry a column | target) and metrics_vs_steps.png.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from absl import flags

from applications.common import config
from applications.experiments import presets, report
from applications.experiments.config import FREE, ExperimentConfig, ExperimentSettings
from spl_tf.utils import cli, files
from spl_tf.utils.errors import InputError

EXPERIMENT_FILE = "experiment.json"
RUNS = "runs"
RESULTS = ("results.md", "results.csv", "grid.png", "metrics_vs_steps.png")
# What the experiment writes in its folder, and so what --overwrite discards (smoke's
# data/ stays: it is the same for every smoke experiment).
OWNED = (EXPERIMENT_FILE, RUNS, *RESULTS)


def define_flags(flag_values: flags.FlagValues) -> None:
    """The flags of this command, defined when it runs (importing defines none)."""
    config.define_flags(ExperimentConfig, flag_values, defaults=ExperimentConfig(),
                        required=("experiment_dir",))


def run_experiment(settings: ExperimentConfig) -> Path:
    """Run (or resume) the experiment `settings` describes; returns its folder.

    Everything is checked before the first write: the entries and their run configs,
    the test sets, an existing experiment in the folder (another one is refused without
    `--overwrite`).
    """
    from applications.common import training

    what = settings.experiment
    if not what.experiment_dir:
        raise InputError("give --experiment_dir (the experiment's folder)")
    folder = Path(what.experiment_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--experiment_dir={folder} exists and is not a folder")
    entries = presets.entries(what)
    if not entries:
        raise InputError("no entries to run")
    configs = {entry.name: [presets.run_config(what, entry, seed, folder)
                            for seed in range(what.seeds)] for entry in entries}
    test_sets = presets.test_sets(what, folder)
    _check_apart(folder, what)
    discard = _check_existing(folder, what)
    app = _application(what.preset)
    from spl_tf.utils import locks

    with locks.hold(folder, "--experiment_dir", "experiment"):
        if discard:
            _discard(folder)
        record = {"experiment": dataclasses.asdict(what),
                  "evaluation": dataclasses.asdict(settings.evaluation),
                  "entries": [{"name": e.name, "label": e.label,
                               "objective": dict(e.objective)} for e in entries]}
        files.write_bytes(folder / EXPERIMENT_FILE, json.dumps(record, indent=2).encode())
        presets.prepare_data(what, folder)
        evaluation, unavailable = _available(settings.evaluation)
        runs: dict[str, list[Path]] = {}
        for entry in entries:
            for seed, run_config in enumerate(configs[entry.name]):
                run_dir = folder / RUNS / f"{entry.name}-seed{seed}"
                runs.setdefault(entry.name, []).append(run_dir)
                if _finished(app, run_config, run_dir):
                    _say(f"{run_dir.name}: finished before, skipped (not trained again)")
                else:
                    _say(f"{run_dir.name}: training {entry.label}")
                    training.train(app, run_config, run_dir, extra_callbacks=[
                        _scorer(app, what, run_config, run_dir, test_sets[0], evaluation)])
                _evaluate(app, what, run_config, run_dir, test_sets, evaluation)
        _report(app, what, settings, entries, configs, runs, test_sets, evaluation.names,
                unavailable, folder)
    return folder


def _check_apart(folder: Path, what: ExperimentSettings) -> None:
    """InputError if the experiment would write into a folder of its data, or its data
    lies where it writes (--overwrite removes what it wrote)."""
    from applications.common import outputs

    reads = {"--data_dir": what.data_dir, "--sr_test_dir": what.sr_test_dir}
    outputs.check_apart([folder / name for name in OWNED],
                        {flag: Path(given) for flag, given in reads.items() if given},
                        image_folders=reads)


def _say(line: str) -> None:
    print(line, flush=True)


def _application(preset: str) -> Any:
    if presets.APPLICATION[preset] == "srresnet":
        from applications.srresnet.application import SuperResolution
        return SuperResolution()
    from applications.pix2pix.application import Pix2Pix
    return Pix2Pix()


def _compared(what: ExperimentSettings | dict) -> dict[str, Any]:
    values = what if isinstance(what, dict) else dataclasses.asdict(what)
    return {k: v for k, v in values.items() if k not in FREE}


def _check_existing(folder: Path, what: ExperimentSettings) -> bool:
    """Whether an earlier experiment in `folder` is to be discarded (another one, with
    `--overwrite`); InputError, changing nothing, for another one without it."""
    path = folder / EXPERIMENT_FILE
    if not path.exists():
        if (folder / RUNS).exists() and not what.overwrite:
            raise InputError(f"--experiment_dir={folder} holds {RUNS}/ but no "
                             f"{EXPERIMENT_FILE}; give a new --experiment_dir, or "
                             "--overwrite to discard it")
        return what.overwrite and (folder / RUNS).exists()
    try:
        saved = _compared(json.loads(path.read_text())["experiment"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        if what.overwrite:
            return True
        raise InputError(f"{path}: not an experiment this program wrote ({error}); give a "
                         "new --experiment_dir, or --overwrite to discard it") from None
    now = _compared(what)
    changed = [f"--{name}={saved.get(name)!r} (now {value!r})"
               for name, value in now.items() if saved.get(name) != value]
    if not changed:
        return False
    if what.overwrite:
        return True
    raise InputError(f"--experiment_dir={folder} holds another experiment: "
                     f"{', '.join(changed)}. Rerun with its settings to resume it, give a "
                     "new --experiment_dir, or --overwrite to discard it")


def _discard(folder: Path) -> None:
    for name in OWNED:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _available(evaluation: Any) -> tuple[Any, set[str]]:
    """`evaluation` less the learned metrics whose weights cannot be had (said once, in
    one warning line), and those metrics."""
    from applications.common.evaluation import find_weights

    asked = evaluation.names
    unavailable: set[str] = set()
    reasons = []
    for group in (("lpips",), ("fid", "kid")):
        wanted = [m for m in group if m in asked]
        if not wanted:
            continue
        try:
            find_weights(dataclasses.replace(evaluation, metrics=",".join(wanted)))
        except InputError as error:
            unavailable.update(wanted)
            reasons.append(str(error))
    if not unavailable:
        return evaluation, unavailable
    names = ", ".join(m.upper() for m in asked if m in unavailable)
    print(f"warning: {names}: {report.NOT_AVAILABLE}, their columns say so and everything "
          f"else runs ({reasons[0]})", file=sys.stderr, flush=True)
    kept = [m for m in asked if m not in unavailable]
    return dataclasses.replace(evaluation, metrics=",".join(kept)), unavailable


def _finished(app: Any, run_config: Any, run_dir: Path) -> bool:
    """Whether `run_dir` holds this run finished: its config, and the model and export
    of all its epochs (what the trainer leaves last)."""
    from applications.common import run_record
    from applications.common.checkpoints import recorded_epochs
    from applications.common.resume import EXPORT, MODEL_FILE

    if not (run_dir / MODEL_FILE).is_file() or not (run_dir / EXPORT).is_dir():
        return False
    try:
        saved = run_record.saved_config(run_dir, app.name, type(run_config))
    except InputError:
        return False  # the trainer says what is wrong
    epochs = recorded_epochs(run_dir / MODEL_FILE)
    return (saved is not None and epochs is not None
            and epochs >= run_config.training.epochs
            and dataclasses.replace(saved, training=dataclasses.replace(
                saved.training, epochs=run_config.training.epochs)) == run_config)


def _predict_config(what: ExperimentSettings, run_config: Any, run_dir: Path,
                    test_set: presets.TestSet, evaluation: Any) -> Any:
    from applications.common.config import PredictionConfig

    prediction = PredictionConfig(
        model_dir=str(run_dir), output_dir=str(run_dir / "predictions" / test_set.name),
        split=test_set.split, input_dir=test_set.lr_dir, overwrite=True,
        batch_size=1 if test_set.lr_dir else 16)
    evaluation = _kid_for(evaluation, _count(run_config, test_set))
    if what.preset == "super_resolution":
        from applications.srresnet.config import SRImages, SRPredictConfig, SRTargets
        return SRPredictConfig(prediction=prediction, data=SRImages(scale=run_config.data.scale),
                               targets=SRTargets(hr_dir=test_set.hr_dir), evaluation=evaluation)
    from applications.pix2pix.config import Pix2PixPredictConfig
    return Pix2PixPredictConfig(prediction=prediction, data=run_config.data,
                                evaluation=evaluation)


def _count(run_config: Any, test_set: presets.TestSet) -> int:
    from spl_tf.utils import image_io

    folder = Path(test_set.lr_dir) if test_set.lr_dir else Path(
        run_config.data.data_dir) / test_set.split
    return len(image_io.list_images(folder))


def _kid_for(evaluation: Any, images: int) -> Any:
    """KID's subsets no larger than the test set (the small ones are where KID is read)."""
    if "kid" not in evaluation.names or images >= evaluation.kid_subset_size:
        return evaluation
    return dataclasses.replace(evaluation, kid_subset_size=max(2, images))


def _scorer(app: Any, what: ExperimentSettings, run_config: Any, run_dir: Path,
            test_set: presets.TestSet, evaluation: Any) -> Any:
    """The callback scoring the run on the first test set at `--eval_points` epochs,
    with the metrics asked for that are available (`evaluation`: those; PSNR at least)."""
    from applications.common.evaluation import OF_SETS, PAIRED, Metrics
    from applications.experiments import progress

    paired = [m for m in evaluation.names if m in PAIRED] or ["psnr"]
    of_sets = [m for m in evaluation.names if m in OF_SETS]
    scoring_settings = dataclasses.replace(evaluation, metrics=",".join(paired + of_sets))
    predict_config = _predict_config(what, run_config, run_dir, test_set, scoring_settings)
    return progress.ScoreDuringTraining(
        run_dir, progress.epochs_to_score(run_config.training.epochs, what.eval_points),
        list(app.prediction_batches(predict_config)),
        lambda predict: app.inference(predict_config, predict),
        Metrics(predict_config.evaluation, app.scoring(predict_config)))


def _evaluate(app: Any, what: ExperimentSettings, run_config: Any, run_dir: Path,
              test_sets: list[presets.TestSet], evaluation: Any) -> None:
    """`RUN/evaluation.json`: the run's scores on each test set; taken again only when
    the model or the metrics asked for have changed."""
    from applications.common import prediction
    from applications.common.resume import MODEL_FILE

    key = {"evaluation": dataclasses.asdict(evaluation),
           "model_mtime_ns": (run_dir / MODEL_FILE).stat().st_mtime_ns}
    path = run_dir / report.EVALUATION_FILE
    try:
        if json.loads(path.read_text())["key"] == key:
            return
    except (OSError, ValueError, KeyError, TypeError):
        pass
    sets = {}
    for test_set in test_sets:
        predict_config = _predict_config(what, run_config, run_dir, test_set, evaluation)
        _, result = prediction.predict(app, predict_config)
        sets[test_set.name] = {"images": result["images"],
                               **{m: result[m] for m in evaluation.names if m in result}}
    files.write_bytes(path, json.dumps({"key": key, "sets": sets}, indent=2).encode())


def _report(app: Any, what: ExperimentSettings, settings: ExperimentConfig, entries: list,
            configs: dict[str, list[Any]], runs: dict[str, list[Path]],
            test_sets: list[presets.TestSet], asked: tuple[str, ...], unavailable: set[str],
            folder: Path) -> None:
    first = configs[entries[0].name][0]
    steps = app.training_data(first).steps_per_epoch
    training_settings = first.training
    summary = (f"`spl-experiment --preset={what.preset}`: {len(entries)} entries x "
               f"{what.seeds} seed(s), each {training_settings.epochs} epochs of {steps} steps "
               f"(batch {training_settings.batch_size}) from the same initial weights on the "
               f"same batches; scored on {', '.join(t.name for t in test_sets)}"
               + (" (mean ± std over the seeds)" if what.seeds > 1 else "") + ".")
    table = report.rows(runs, entries, [t.name for t in test_sets])
    text = report.markdown(table, settings.evaluation.names, unavailable, summary)
    report.write_text(folder / "results.md", text)
    report.write_text(folder / "results.csv",
                      report.csv_text(table, settings.evaluation.names, unavailable))
    shown = test_sets[0].name
    report.grid({e.name: runs[e.name][0] / "predictions" / shown / "prediction"
                 for e in entries},
                runs[entries[0].name][0] / "predictions" / shown, app.target_folder,
                what.grid_images, folder / "grid.png")
    report.curves(runs, {e.name: e.label for e in entries}, folder / "metrics_vs_steps.png")
    _say("\n" + text + f"\nwrote {folder}/: {', '.join(RESULTS)}")


def main() -> None:
    cli.import_quietly("tensorflow")  # only now: --help needs none
    run_experiment(config.from_flags(ExperimentConfig, flags.FLAGS))


def entry_point() -> None:
    cli.run(main, define_flags)


if __name__ == "__main__":
    entry_point()
