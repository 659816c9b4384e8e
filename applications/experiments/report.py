"""What an experiment writes beside its runs: results.md, results.csv, grid.png and
metrics_vs_steps.png, each atomically (`spl_tf.utils.files`), from what the runs hold.

A row per entry (and test set, where a preset has several), each metric the mean over
the seeds and its spread (sample standard deviation; none for one seed). A learned
metric whose weights are not available reads "weights not available" in its column,
with one note under the table.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from applications.common import plots
from spl_tf.utils import files, image_io

COLUMNS = {"psnr": ("PSNR (dB) ↑", 2), "ssim": ("SSIM ↑", 4), "lpips": ("LPIPS ↓", 4),
           "fid": ("FID ↓", 2), "kid": ("KID ↓", 4)}
LEARNED = ("lpips", "fid", "kid")
NOT_AVAILABLE = "weights not available"
NOT_ASKED = "not asked"
EVALUATION_FILE = "evaluation.json"  # in each run folder: its scores on the test sets


@dataclasses.dataclass(frozen=True)
class Row:
    entry: str
    label: str
    discriminator: str
    test_set: str
    scores: dict[str, list[float]]  # metric -> its value in each seed's run
    images: int


def rows(runs: dict[str, list[Path]], entries: list[Any], test_sets: list[str]) -> list[Row]:
    """The table's rows from the runs of each entry (`{entry name: [run folder per
    seed]}`), read from their `evaluation.json`."""
    found = []
    for entry in entries:
        for test_set in test_sets:
            scores: dict[str, list[float]] = {}
            images = 0
            for run_dir in runs[entry.name]:
                result = json.loads((run_dir / EVALUATION_FILE).read_text())["sets"][test_set]
                images = result["images"]
                for metric in COLUMNS:
                    if metric in result:
                        scores.setdefault(metric, []).append(float(result[metric]))
            found.append(Row(entry.name, entry.label, entry.discriminator, test_set, scores,
                             images))
    return found


def cell(values: list[float] | None, metric: str, missing: str) -> str:
    if not values:
        return missing
    digits = COLUMNS[metric][1]
    text = f"{np.mean(values):.{digits}f}"
    return text + (f" ± {np.std(values, ddof=1):.{digits}f}" if len(values) > 1 else "")


def _missing(metric: str, asked: tuple[str, ...], unavailable: set[str]) -> str:
    return NOT_AVAILABLE if metric in unavailable else NOT_ASKED if metric not in asked else "—"


def markdown(table_rows: list[Row], asked: tuple[str, ...], unavailable: set[str],
             summary: str) -> str:
    """results.md: the summary line, the table, the note on missing weights."""
    several = len({row.test_set for row in table_rows}) > 1
    head = ["entry", "loss and discriminator", "discriminator"] + (["test set"] if several
                                                                     else [])
    lines = ["| " + " | ".join(head + [COLUMNS[m][0] for m in COLUMNS]) + " |",
             "| " + " | ".join(["---"] * len(head) + ["---:"] * len(COLUMNS)) + " |"]
    for row in table_rows:
        cells = [f"`{row.entry}`", row.label, row.discriminator] + (
            [row.test_set] if several else [])
        cells += [cell(row.scores.get(m), m, _missing(m, asked, unavailable)) for m in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    text = summary + "\n\n" + "\n".join(lines) + "\n"
    if unavailable & set(asked):
        names = ", ".join(m.upper() for m in LEARNED if m in unavailable & set(asked))
        text += (f"\n{names}: {NOT_AVAILABLE} (no local copy and no download; give "
                 "--weights_dir, --lpips_weights or --inception_weights and rerun: only the "
                 "scores are taken again).\n")
    return text


def csv_text(table_rows: list[Row], asked: tuple[str, ...], unavailable: set[str]) -> str:
    """results.csv: one line per row, each metric's mean and std (blank for one seed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["entry", "label", "discriminator", "test_set", "seeds", "images"]
                    + [f"{m}_{s}" for m in COLUMNS for s in ("mean", "std")])
    for row in table_rows:
        values = []
        for metric in COLUMNS:
            scores = row.scores.get(metric)
            if scores:
                values += [repr(float(np.mean(scores))),
                           repr(float(np.std(scores, ddof=1))) if len(scores) > 1 else ""]
            else:
                values += [_missing(metric, asked, unavailable), ""]
        seeds = max((len(v) for v in row.scores.values()), default=0)
        writer.writerow([row.entry, row.label, row.discriminator, row.test_set, seeds,
                         row.images] + values)
    return out.getvalue()


def grid(columns: dict[str, Path], test_folder: Path, target_folder: str, count: int,
         path: Path) -> None:
    """grid.png: `count` test images spread over the set, in rows: the input, each
    entry's prediction (`{label: its predictions folder}`), the target."""
    names = sorted(p.stem for p in image_io.list_images(test_folder / "input"))
    shown = [names[i] for i in np.unique(np.linspace(0, len(names) - 1,
                                                     min(count, len(names))).round().astype(int))]

    def read(folder: Path, name: str) -> np.ndarray:
        return plots.thumbnail(image_io.read_rgb(folder / f"{name}.png"))

    table = [[read(test_folder / "input", name)]
             + [read(folder, name) for folder in columns.values()]
             + [read(test_folder / target_folder, name)] for name in shown]
    plots.image_table(table, ["input", *columns, "target"], path)


def curves(runs: dict[str, list[Path]], labels: dict[str, str], path: Path) -> bool:
    """metrics_vs_steps.png: each metric the runs recorded during training (PSNR, SSIM,
    LPIPS, FID, KID: those with weights) against the training step, a line per entry
    (the mean over its seeds). False (nothing written) without points."""
    from applications.experiments import progress  # Keras: not for --help

    series: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for name, run_dirs in runs.items():
        by_step: dict[tuple[str, int], list[float]] = {}
        for run_dir in run_dirs:
            for point in progress.read_points(run_dir):
                for metric in COLUMNS:
                    if metric in point:
                        by_step.setdefault((metric, point["step"]), []).append(point[metric])
        for (metric, step), values in by_step.items():
            series.setdefault(COLUMNS[metric][0], {}).setdefault(labels[name], []).append(
                (step, float(np.mean(values))))
    if not series:
        return False
    plots.metric_curves(series, path)
    return True


def write_text(path: Path, text: str) -> None:
    files.write_bytes(path, text.encode())
