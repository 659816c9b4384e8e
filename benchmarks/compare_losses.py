r"""Train one generator with different losses and compare the held-out results.

    python benchmarks/compare_losses.py                  # L1, SPL, GPL, CPL on the demo task
    python benchmarks/compare_losses.py --losses=SPL \
        --losses='SPL + 0.1 * ContextualLoss(weights="vgg19_weights.h5")'
    python benchmarks/compare_losses.py --data_dir=PAIRS --image_size=256 --steps=5000

Every loss trains the same ResNet-9 generator (same initial weights, same
batches, same optimiser, same number of steps) on the task of `make demo`
(sketch -> photo crops cut from scikit-image's photos) or on a pix2pix-layout
`--data_dir` (`train/` and `test/` of `[input | target]` images). This is how
to check the paper's claim on your own data.

A loss is an expression: `L1`, `L2`, `SPL`, `GPL`, `CPL`, `ContextualLoss`,
`FSeSimLoss`, `PerceptualLoss`, `StyleLoss` (a bare name takes the defaults,
a call sets keyword arguments to constants), combined with `+`, `-` and
multiplication by numbers. Only that grammar is accepted: the expression is
parsed, never executed. The VGG-based losses need `weights="imagenet"` (Keras
downloads them) or a local weights file.

Writes to `--output_dir`: `comparison.png` (held-out input | one column per
loss | target), `comparison.md` and `comparison.json` (held-out PSNR and SSIM
on RGB, gradient-energy ratio output / target, 1 = as sharp as the target,
below 1 = blurrier, seconds per training step).
"""

from __future__ import annotations

import ast
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from absl import flags
from keras import ops

import spl_tf
from applications.common import pairs, plots, resnet_generator
from applications.pix2pix import demo
from applications.pix2pix.config import Pix2PixConfig, Pix2PixData
from spl_tf import metrics
from spl_tf.utils import cli, files, image_io
from spl_tf.utils.errors import InputError

DEMO_STEPS = len(demo.PHOTOS) * demo.CROPS_PER_PHOTO["train"] // 8 * 8  # 8 epochs of batch 8

PerImageLoss = Callable[[object, object], object]


# --- loss expressions -----------------------------------------------------------


def _l1(y_true, y_pred):
    return ops.mean(ops.abs(y_true - y_pred), axis=(1, 2, 3))


def _l2(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))


LOSS_NAMES = {
    "SPL": spl_tf.SPL, "GPL": spl_tf.GPL, "CPL": spl_tf.CPL,
    "ContextualLoss": spl_tf.ContextualLoss, "FSeSimLoss": spl_tf.FSeSimLoss,
    "PerceptualLoss": spl_tf.PerceptualLoss, "StyleLoss": spl_tf.StyleLoss,
}
FUNCTIONS = {"L1": _l1, "L2": _l2}


class Terms(list):
    """A weighted sum of per-image losses: [(weight, loss), ...]."""

    def __call__(self, y_true, y_pred):
        return sum(weight * loss(y_true, y_pred) for weight, loss in self)


def parse_loss(expression: str) -> Terms:
    """The loss an expression names (see the module docstring for the grammar)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as error:
        raise InputError(f"--losses={expression!r}: not an expression ({error.msg})") from None
    value = _evaluate(tree.body, expression)
    if not isinstance(value, Terms):
        raise InputError(f"--losses={expression!r}: names no loss")
    return value


def _evaluate(node: ast.AST, expression: str) -> Terms | float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _scale(-1.0, _evaluate(node.operand, expression))
    if isinstance(node, ast.Name):
        return _loss_term(node.id, {}, expression)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
        try:
            kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except ValueError:
            raise InputError(f"--losses={expression!r}: arguments of {node.func.id} must be "
                             "keyword=constant") from None
        return _loss_term(node.func.id, kwargs, expression)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
        left, right = _evaluate(node.left, expression), _evaluate(node.right, expression)
        if isinstance(node.op, ast.Mult):
            if isinstance(left, float):
                return _scale(left, right)
            if isinstance(right, float):
                return _scale(right, left)
            raise InputError(f"--losses={expression!r}: losses can only be multiplied by numbers")
        if isinstance(left, Terms) and isinstance(right, Terms):
            sign = 1.0 if isinstance(node.op, ast.Add) else -1.0
            return Terms(left + [(sign * w, loss) for w, loss in right])
    raise InputError(f"--losses={expression!r}: cannot read {ast.unparse(node)!r}; use loss "
                     f"names ({', '.join([*FUNCTIONS, *LOSS_NAMES])}), keyword=constant "
                     "arguments, +, - and * by numbers")


def _scale(factor: float, value: Terms | float) -> Terms | float:
    if isinstance(value, float):
        return factor * value
    return Terms((factor * w, loss) for w, loss in value)


def _loss_term(name: str, kwargs: dict, expression: str) -> Terms:
    if name in FUNCTIONS and not kwargs:
        return Terms([(1.0, FUNCTIONS[name])])
    if name not in LOSS_NAMES:
        raise InputError(f"--losses={expression!r}: unknown loss {name!r}; known: "
                         f"{', '.join([*FUNCTIONS, *LOSS_NAMES])}")
    try:
        loss = LOSS_NAMES[name](reduction=None, **kwargs)
    except (TypeError, ValueError, OSError) as error:
        raise InputError(f"--losses={expression!r}: {name}: {error}") from None
    return Terms([(1.0, loss)])


# --- training and scoring --------------------------------------------------------


class StepTimes(keras.callbacks.Callback):
    """Wall time of every training step (the first one includes tracing)."""

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._start)

    def on_train_begin(self, logs=None):
        self.times = []


def train(loss: Terms, config: Pix2PixConfig, steps: int) -> tuple[keras.Model, float]:
    """A generator trained with `loss`; and the median seconds per step."""
    training = config.training
    keras.utils.set_random_seed(training.seed)  # the same initial weights for every loss
    files = pairs.scan_split(config.data.folder(), "train")
    batches = pairs.pairs_dataset(files, config.data.image_size, training.batch_size,
                                  pairs.PairFormat(), training=True, seed=training.seed)
    model = resnet_generator.build_generator(config.model.ngf, batch_stats_at_inference=False,
                                             num_blocks=config.model.num_blocks)
    model.compile(keras.optimizers.Adam(training.learning_rate, beta_1=training.beta_1),
                  loss=lambda y_true, y_pred: loss(y_true, y_pred), jit_compile=False)
    times = StepTimes()
    model.fit(batches, steps_per_epoch=steps, epochs=1, callbacks=[times], shuffle=False,
              verbose=0)
    return model, float(np.median(times.times[1:] or times.times))


def gradient_energy(images: np.ndarray) -> np.ndarray:
    """Sum of squared forward differences per image (float images)."""
    dx = np.diff(images, axis=2)
    dy = np.diff(images, axis=1)
    return (dx ** 2).sum(axis=(1, 2, 3)) + (dy ** 2).sum(axis=(1, 2, 3))


def evaluate(model: keras.Model, test: list[tuple]) -> tuple[dict, np.ndarray]:
    """Held-out scores and the uint8 outputs, scored as the predictors score them."""
    outputs, scores = [], {"psnr": [], "ssim": [], "energy": []}
    for inputs, targets, _ in test:
        out = image_io.to_uint8(model.predict_on_batch(inputs))
        true, pred = image_io.to_float(image_io.to_uint8(targets)), image_io.to_float(out)
        scores["psnr"] += list(np.minimum(ops.convert_to_numpy(metrics.psnr(true, pred)), 100))
        scores["ssim"] += list(ops.convert_to_numpy(metrics.ssim(true, pred)))
        scores["energy"] += list(gradient_energy(pred) / np.maximum(gradient_energy(true), 1e-12))
        outputs.append(out)
    return {k: float(np.mean(v)) for k, v in scores.items()}, np.concatenate(outputs)


# --- reporting ---------------------------------------------------------------------


def write_figure(columns: dict[str, np.ndarray], rows: int, path: Path) -> None:
    """`rows` held-out images spread over the test set, one titled column per entry."""
    names = list(columns)
    count = len(columns[names[0]])
    shown = np.unique(np.linspace(0, count - 1, min(rows, count)).round().astype(int))
    plots.image_table([[columns[name][i] for name in names] for i in shown], names, path)


def table(results: list[dict]) -> str:
    lines = ["| loss | PSNR (dB) | SSIM | gradient energy / target | s / step |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| `{r['loss']}` | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                     f"{r['energy']:.3f} | {r['seconds_per_step']:.3f} |")
    return "\n".join(lines) + "\n"


def run(expressions: list[str], output_dir: Path, config: Pix2PixConfig, steps: int,
        rows: int) -> list[dict]:
    losses = {expression: parse_loss(expression) for expression in expressions}  # fail early
    if steps < 1:
        raise InputError(f"--steps={steps} must be at least 1")
    data, batch_size = config.data, config.training.batch_size
    test_files = pairs.scan_split(data.folder(), "test")
    test = list(pairs.named_pair_batches(test_files, data.image_size, batch_size,
                                         pairs.PairFormat()))
    columns = {"input": image_io.to_uint8(np.concatenate([t[0][..., :3] for t in test]))}
    results = []
    for expression, loss in losses.items():
        model, seconds = train(loss, config, steps)
        scores, outputs = evaluate(model, test)
        results.append({"loss": expression, **scores, "seconds_per_step": seconds})
        columns[expression] = outputs
        print(f"{expression}: PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}, "
              f"gradient energy {scores['energy']:.3f}, {seconds:.3f} s/step", flush=True)
    columns["target"] = image_io.to_uint8(np.concatenate([t[1] for t in test]))
    write_figure(columns, rows, output_dir / "comparison.png")
    summary = (f"{steps} steps of batch {batch_size}, {data.image_size}x{data.image_size}, "
               f"ngf {config.model.ngf}, {config.model.num_blocks} residual blocks, "
               f"{len(test_files)} held-out images from "
               f"{data.data_dir}\n\n")
    files.write_bytes(output_dir / "comparison.md", (summary + table(results)).encode())
    files.write_bytes(output_dir / "comparison.json", json.dumps(
        {"steps": steps, "batch_size": batch_size, "image_size": data.image_size,
         "ngf": config.model.ngf, "num_blocks": config.model.num_blocks, "results": results},
        indent=2).encode())
    print("\n" + summary + table(results))
    return results


def define_flags(flag_values: flags.FlagValues) -> None:
    """This script's flags; the training defaults are the demo's (`demo.config`)."""
    defaults = demo.config(Path("."), epochs=1)
    fv = {"flag_values": flag_values}
    flags.DEFINE_multi_string("losses", ["L1", "SPL", "GPL", "CPL"],
                              "Loss expressions to compare; repeat the flag for each.", **fv)
    flags.DEFINE_integer("steps", DEMO_STEPS, "Training steps per loss (default: as make "
                         "demo).", **fv)
    flags.DEFINE_integer("rows", 4, "Held-out images shown in the figure.", **fv)
    flags.DEFINE_string("output_dir", "compare_output", "Where the figure and tables go.", **fv)
    flags.DEFINE_string("data_dir", None, "Pairs folder (train/, test/); default: the demo's "
                        "pairs, built in OUTPUT_DIR/data.", **fv)
    flags.DEFINE_integer("batch_size", defaults.training.batch_size, "Batch size.", **fv)
    flags.DEFINE_integer("image_size", defaults.data.image_size, "Image size.", **fv)
    flags.DEFINE_float("learning_rate", defaults.training.learning_rate, "Adam's rate.", **fv)
    flags.DEFINE_integer("seed", defaults.training.seed, "Seed (same weights for all).", **fv)
    flags.DEFINE_integer("ngf", defaults.model.ngf, "Generator width.", **fv)
    flags.DEFINE_integer("num_blocks", defaults.model.num_blocks, "Residual blocks of the "
                         "generator.", **fv)


def main() -> None:
    values = flags.FLAGS
    output_dir = Path(values.output_dir)
    data_dir = Path(values.data_dir) if values.data_dir else output_dir / "data"
    if values.data_dir is None and not (data_dir / "test").is_dir():
        demo.build_pairs(data_dir)
    config = demo.config(data_dir, epochs=1)
    config = dataclasses.replace(
        config, data=Pix2PixData(data_dir=str(data_dir), image_size=values.image_size),
        model=dataclasses.replace(config.model, ngf=values.ngf, num_blocks=values.num_blocks),
        training=dataclasses.replace(config.training, batch_size=values.batch_size,
                                     learning_rate=values.learning_rate, seed=values.seed))
    run(values.losses, output_dir, config, values.steps, values.rows)


if __name__ == "__main__":
    cli.run(main, define_flags)
