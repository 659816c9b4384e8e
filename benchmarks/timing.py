"""Timing shared by the benchmarks: a loss's forward + gradient step, and training
steps timed in interleaved rounds, so machine noise hits every configuration alike."""

import statistics
import time
from collections.abc import Callable, Iterable

import keras


def make_step(loss_fn: Callable, jit: bool) -> Callable:
    """`(y_true, y_pred) -> (loss, d loss / d y_pred)` as a TensorFlow function."""
    import tensorflow as tf

    @tf.function(jit_compile=jit)
    def step(y_true, y_pred):
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = loss_fn(y_true, y_pred)
        return value, tape.gradient(value, y_pred)

    return step


def loss_step_times(
    build_model: Callable[[], keras.Model],
    losses: dict[str, Callable[[], keras.losses.Loss]],
    x,
    y,
    rounds: int,
) -> dict[tuple[str, bool], float]:
    """Median seconds of one Adam step, for each (loss name, XLA on/off)."""
    models = {}
    for loss_name, loss in losses.items():
        for jit in (False, True):
            keras.utils.set_random_seed(0)  # the same initial weights for every loss
            model = build_model()
            model.compile(keras.optimizers.Adam(2e-4, beta_1=0.9), loss=loss(), jit_compile=jit)
            model.train_on_batch(x, y)  # compile
            model.train_on_batch(x, y)  # warm up
            models[(loss_name, jit)] = (model, [])
    for _ in range(rounds):
        for model, times in models.values():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - start)
    return {key: statistics.median(times) for key, (_, times) in models.items()}


def print_ratios(batch: int, times: dict[tuple[str, bool], float],
                 rows: Iterable[bool] = (False, True)) -> None:
    """One table row per XLA setting: L1 step, SPL step, SPL / L1."""
    for jit in rows:
        l1, spl = times[("L1", jit)], times[("SPL", jit)]
        print(f"{batch:>5}  {'yes' if jit else 'no':<4} {l1:>10.3f} {spl:>11.3f} {spl / l1:>9.3f}")
