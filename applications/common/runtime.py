"""Where and how training runs: distribution strategy, precision, XLA, optimizer."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import keras
from absl import logging

from applications.common.config import RuntimeConfig, TrainingConfig
from spl_tf.utils.errors import InputError


def connect(config: RuntimeConfig, seed: int) -> None:
    """Seed, and join the other processes of a multi-host run (JAX), before any JAX
    computation and before the input pipelines are built.

    `--coordinator_address=HOST:PORT` with `--num_processes` and `--process_id` names
    the cluster; `auto` lets `jax.distributed.initialize` find it (TPU pods, SLURM).
    On the CPU, the processes talk through gloo. Seeding first matters twice: Keras
    would otherwise agree on a random seed across the processes, and the pipelines'
    shuffles take the global seed when they are built, so every process must build
    the same stream as a single-process run of the same seed.
    """
    keras.utils.set_random_seed(seed)
    if config.strategy == "data_parallel" and keras.backend.backend() != "jax":
        raise InputError("--strategy=data_parallel runs on the JAX backend (KERAS_BACKEND=jax); "
                         "on TensorFlow use --strategy=mirrored")
    if not config.coordinator_address:
        return
    import jax

    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        if config.coordinator_address == "auto":
            keras.distribution.initialize()
        else:
            keras.distribution.initialize(config.coordinator_address, config.num_processes,
                                          config.process_id)
    except (RuntimeError, ValueError) as error:
        raise InputError(f"--coordinator_address={config.coordinator_address}: cannot join "
                         f"the processes ({str(error).strip().splitlines()[0]})") from None


def process_index() -> int:
    """This process's index in a multi-host run (0 when alone): process 0 writes."""
    if keras.backend.backend() != "jax":
        return 0
    import jax

    return jax.process_index()


@contextlib.contextmanager
def set_up(config: RuntimeConfig, training: TrainingConfig) -> Iterator[None]:
    """Seeds, determinism, precision policy and strategy: a context to build models in.

    On the TensorFlow backend the context is the `tf.distribute` strategy's
    scope. On JAX, `data_parallel` (and `mirrored`, `tpu`) shard the batch over
    every device of every process with `keras.distribution.DataParallel`. The
    precision policy holds inside only (it is Keras's global one): code that builds
    models after a run in the same process gets the policy it had before.
    """
    keras.utils.set_random_seed(training.seed)
    policy = {"none": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy[config.mixed_precision])
    try:
        with _scope(config, training):
            yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _scope(config: RuntimeConfig, training: TrainingConfig):
    if keras.backend.backend() == "jax":
        # XLA on the CPU is deterministic already; the pipelines are seeded.
        if config.strategy != "default":
            # Every device of every process; each process reads its own shard of the
            # pipeline (Keras rebatches and shards it), the global batch is --batch_size.
            import jax

            if training.batch_size % jax.device_count():
                raise InputError(f"--batch_size={training.batch_size}: must be a multiple of "
                                 f"the {jax.device_count()} devices it is split over "
                                 f"(--strategy={config.strategy})")
            keras.distribution.set_distribution(keras.distribution.DataParallel())
            logging.info("data parallel over %d devices in %d processes",
                         jax.device_count(), jax.process_count())
        return contextlib.nullcontext()
    if training.deterministic:
        import tensorflow as tf

        # Also makes every tf.data map run in order (the pipelines' random ops
        # are stateless and seeded per element, so they stay parallel-safe).
        tf.config.experimental.enable_op_determinism()
    return _tf_strategy(config).scope()


def _tf_strategy(config: RuntimeConfig):
    import tensorflow as tf

    if config.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if config.strategy == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (tf.errors.OpError, ValueError, RuntimeError) as error:
            raise InputError(f"--tpu={config.tpu}: no TPU found there ("
                             f"{str(error).strip().splitlines()[0]})") from None
        return tf.distribute.TPUStrategy(resolver)
    return tf.distribute.get_strategy()


def data_parallel_devices() -> int:
    """How many devices a batch is split over by the JAX distribution (1: none)."""
    distribution = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    return 1 if distribution is None else distribution.device_mesh.devices.size


def jit_compile(config: RuntimeConfig) -> bool | str:
    """The `compile(jit_compile=...)` value for the flag."""
    return {"auto": "auto", "true": True, "false": False}[config.jit_compile]


def learning_rate(config: TrainingConfig, steps_per_epoch: int):
    """The original's schedule: x lr_decay_rate once per epoch (staircase)."""
    if config.fixed_learning_rate:
        return config.learning_rate
    return keras.optimizers.schedules.ExponentialDecay(
        config.learning_rate,
        decay_steps=max(steps_per_epoch, 1),
        decay_rate=config.lr_decay_rate,
        staircase=True,
    )


def optimizer(config: TrainingConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """Adam as the original: learning rate 2e-4, beta_1 0.9 by default."""
    return keras.optimizers.Adam(learning_rate(config, steps_per_epoch), beta_1=config.beta_1)
