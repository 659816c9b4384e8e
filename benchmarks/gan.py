"""What a discriminator costs per training step, next to SPL alone.

    python benchmarks/gan.py                          # 256x256, batch 1 and 4, ResNet-9
    python benchmarks/gan.py --batches=1 --rounds=2 --size=128
    KERAS_BACKEND=jax python benchmarks/gan.py

Measured side by side in one process, in interleaved rounds (median reported): one
training step of the pix2pix generator (forward, gradients, Adam) with SPL alone, as
the paper trains it, and the adversarial steps of `applications.common.adversarial`
with SPL as the reconstruction loss: pix2pix's PatchGAN (vanilla) and pix2pixHD's two
discriminators (lsgan, feature matching), each with and without XLA; every row also as
a multiple of SPL alone under the same XLA setting.
"""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from applications.common.adversarial import ConditionalGAN  # noqa: E402
from applications.common.discriminators import build_discriminator  # noqa: E402
from applications.common.resnet_generator import build_generator  # noqa: E402
from spl_tf import SPL  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("batches", ["1", "4"], "Batch sizes.")
flags.DEFINE_integer("size", 256, "Image height and width.")
flags.DEFINE_integer("rounds", 5, "Timed rounds per configuration.")
flags.DEFINE_integer("ngf", 64, "Generator width (the original's 64).")
flags.DEFINE_integer("num_blocks", 9, "Residual blocks of the generator (the original's 9).")
flags.DEFINE_integer("ndf", 64, "Discriminator width (the references' 64).")
flags.DEFINE_list("xla", ["no", "yes"], "XLA settings to time: no, yes or both.")

# name: (discriminator kind or None, GAN mode, scales, feature-matching weight, order)
SETUPS = {
    "SPL alone": (None, None, 1, 0.0, True),
    "SPL + PatchGAN": ("patchgan", "vanilla", 1, 0.0, True),
    "SPL + multiscale": ("multiscale", "lsgan", 2, 10.0, False),
}


def build(setup: str, jit: bool) -> keras.Model:
    """The model that trains the generator with `setup`, compiled (the same initial
    generator weights for every setup)."""
    kind, mode, scales, matching, sequential = SETUPS[setup]
    keras.utils.set_random_seed(0)
    generator = build_generator(FLAGS.ngf, num_blocks=FLAGS.num_blocks)

    def adam():
        return keras.optimizers.Adam(2e-4, beta_1=0.9)

    if kind is None:
        generator.compile(adam(), loss=SPL(), jit_compile=jit)
        return generator
    model = ConditionalGAN(generator, build_discriminator(kind, 6, FLAGS.ndf, num_scales=scales),
                           gan_mode=mode, num_scales=scales, feature_matching_weight=matching,
                           sequential=sequential)
    model.compile(adam(), adam(), SPL(), jit_compile=jit)
    return model


def step_times(batch: int) -> dict[tuple[str, bool], float]:
    """Median seconds of one training step, for each (setup, XLA on/off)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, FLAGS.size, FLAGS.size, 3)).astype("float32")
    y = np.tanh(x[..., ::-1] * 1.5).astype("float32")
    models = {}
    for setup in SETUPS:
        for jit in _xla():
            model = build(setup, jit)
            model.train_on_batch(x, y)  # compile
            model.train_on_batch(x, y)  # warm up
            models[(setup, jit)] = (model, [])
    for _ in range(FLAGS.rounds):
        for model, times in models.values():
            start = time.perf_counter()
            model.train_on_batch(x, y)
            times.append(time.perf_counter() - start)
    return {key: statistics.median(times) for key, (_, times) in models.items()}


def _xla() -> list[bool]:
    return [{"no": False, "yes": True}[setting] for setting in FLAGS.xla]


def main(argv):
    del argv
    backend = keras.backend.backend()
    version = __import__(backend).__version__
    print(f"{backend} {version}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
          f"ResNet-{FLAGS.num_blocks} generator ngf={FLAGS.ngf}, discriminators ndf={FLAGS.ndf}, "
          f"{FLAGS.size}x{FLAGS.size}; one training step, median of {FLAGS.rounds} rounds\n")
    print(f"{'batch':>5}  {'XLA':<4} {'setup':<18} {'step s':>8} {'x SPL alone':>12}")
    for batch in (int(b) for b in FLAGS.batches):
        times = step_times(batch)
        for jit in _xla():
            alone = times[("SPL alone", jit)]
            for setup in SETUPS:
                step = times[(setup, jit)]
                print(f"{batch:>5}  {'yes' if jit else 'no':<4} {setup:<18} {step:>8.3f} "
                      f"{step / alone:>12.2f}")
        print()


if __name__ == "__main__":
    app.run(main)
