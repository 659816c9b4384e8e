"""Conditional-GAN training: the generator against a discriminator, inside Keras's `fit`.

`ConditionalGAN(generator, discriminator, ...)` is a `keras.Model` whose `call` is the
generator's and whose `train_step` makes one adversarial step with two optimizers,
as pytorch-CycleGAN-and-pix2pix's `pix2pix_model` and pix2pixHD's `train.py` do:

1. `fake = G(condition)`;
2. the discriminator's loss on `(condition, target)` called real and `(condition, fake)`
   called fake (no gradient to G), its gradient step;
3. the generator's loss: `adversarial_weight` x the discriminator calling `fake` real,
   + `reconstruction_weight` x the reconstruction loss (SPL, L1 ...) of `fake` against
   the target, + `feature_matching_weight` x pix2pixHD's feature matching; its step.

`sequential=True` is pix2pix's order: the generator's loss sees the discriminator after
its step. `False` is pix2pixHD's: both losses come from the networks as they were.
Every loss term, the discriminator's accuracy on its patch decisions (0.5 is chance)
and the total (`loss`, the generator's objective) are logged as epoch means, so they
reach the training log and TensorBoard; `evaluate` gives the same terms without steps.

One step per backend, as Keras 3 needs: on TensorFlow gradient tapes (the generator's
backward pass is taken from the gradient of its loss with respect to `fake`, so it
runs forward once, as in pix2pix); on JAX a stateless step over `fit`'s state. `fit`
threads through a JAX step only the model's variables and those of `model.optimizer`
(the generator's), so the discriminator's optimizer state is listed among the model's
non-trainable variables (`variables`), where Keras already keeps state that is not a
weight (seed generators). Both optimizers are saved with the model (`optimizer`,
`discriminator_optimizer`), so a checkpoint resumes the run whole.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import keras
from keras import ops

from applications.common import discriminators, gan_objectives

__all__ = ["ConditionalGAN"]

# The logs of a step (each an epoch mean in the training log and TensorBoard).
DISCRIMINATOR_LOGS = ("discriminator_loss", "discriminator_accuracy")
GENERATOR_LOGS = ("loss", "reconstruction_loss", "adversarial_loss")
FEATURE_MATCHING_LOG = "feature_matching_loss"


@keras.saving.register_keras_serializable(package="applications")
class ConditionalGAN(keras.Model):
    """A generator trained against a conditional discriminator (see the module).

    Args:
        generator: condition -> image, float32 outputs.
        discriminator: `concat(condition, image)` -> the outputs of
            `discriminators.build_discriminator` (`num_scales` scales, logits last).
        gan_mode: one of `gan_objectives.GAN_MODES`.
        num_scales: the discriminator's scales.
        reconstruction_weight, adversarial_weight, feature_matching_weight: the
            weights of the generator's loss terms (feature matching: 0 leaves it out).
        sequential: pix2pix's order (True) or pix2pixHD's (False), as above.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model,
                 gan_mode: str = "vanilla", num_scales: int = 1,
                 reconstruction_weight: float = 1.0, adversarial_weight: float = 1.0,
                 feature_matching_weight: float = 0.0, sequential: bool = True, **kwargs):
        super().__init__(**kwargs)
        if gan_mode not in gan_objectives.GAN_MODES:
            raise ValueError(f"gan_mode must be one of {gan_objectives.GAN_MODES}, "
                             f"got {gan_mode!r}")
        self.generator = generator
        self.discriminator = discriminator
        self.settings = {
            "gan_mode": gan_mode, "num_scales": int(num_scales),
            "reconstruction_weight": float(reconstruction_weight),
            "adversarial_weight": float(adversarial_weight),
            "feature_matching_weight": float(feature_matching_weight),
            "sequential": bool(sequential)}
        names = DISCRIMINATOR_LOGS + GENERATOR_LOGS
        if feature_matching_weight:
            names += (FEATURE_MATCHING_LOG,)
        self.trackers = [keras.metrics.Mean(name=name) for name in names]
        self.discriminator_optimizer: keras.optimizers.Optimizer | None = None
        self.reconstruction_loss: keras.losses.Loss | None = None
        self.built = True  # its networks are

    # ------------------------------------------------------------------ Keras API

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def compile(self, optimizer: keras.optimizers.Optimizer,
                discriminator_optimizer: keras.optimizers.Optimizer,
                reconstruction_loss: keras.losses.Loss, **kwargs) -> None:
        """`optimizer` steps the generator (Keras wraps it for float16 loss scaling),
        `discriminator_optimizer` the discriminator (wrapped alike); both are built
        here, so that loading a checkpoint restores their state. `kwargs`: those of
        `keras.Model.compile` but a loss and metrics (`jit_compile`, ...)."""
        super().compile(optimizer=optimizer, **kwargs)
        if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            discriminator_optimizer = keras.optimizers.LossScaleOptimizer(
                discriminator_optimizer, name="discriminator_loss_scale_optimizer")
        self.discriminator_optimizer = discriminator_optimizer
        self.reconstruction_loss = reconstruction_loss
        self.optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers)

    @property
    def variables(self) -> list:
        # The discriminator's optimizer state as non-trainable state (see the module).
        found = super().variables
        optimizer = getattr(self, "discriminator_optimizer", None)  # None until compiled
        if optimizer is not None:
            seen = {id(v) for v in found}
            found += [v for v in optimizer.variables if id(v) not in seen]
        return found

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "trainable": self.trainable,
                "generator": keras.saving.serialize_keras_object(self.generator),
                "discriminator": keras.saving.serialize_keras_object(self.discriminator),
                **self.settings}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ConditionalGAN:
        config = dict(config)
        networks = {name: keras.saving.deserialize_keras_object(config.pop(name))
                    for name in ("generator", "discriminator")}
        return cls(**networks, **config)

    def get_compile_config(self) -> None:
        # A loaded trainer predicts (its call is the generator's); to train it again,
        # compile it with its two optimizers and its loss.
        return None

    def trained_generator(self) -> keras.Model:
        """The generator, compiled with its optimizer (and so its state) and its
        reconstruction loss: what a run leaves as its model, as a plain run does."""
        weight = self.settings["reconstruction_weight"]
        self.generator.compile(optimizer=self.optimizer, loss=self.reconstruction_loss,
                               loss_weights=None if weight == 1 else weight)
        return self.generator

    # ------------------------------------------------------------------ the objectives

    def discriminate(self, condition, image, training: bool) -> list[list]:
        """The discriminator's outputs on `(condition, image)`, grouped by scale."""
        outputs = self.discriminator(ops.concatenate([condition, image], axis=-1),
                                     training=training)
        return discriminators.scales(outputs, self.settings["num_scales"])

    def discriminator_objective(self, condition, target, fake, training: bool
                                ) -> tuple[Any, dict[str, Any]]:
        """The discriminator's loss (`fake` holds no gradient to the generator) and its
        logs. Fake pairs first, as pix2pix's `backward_D` (batch norm's moving
        statistics follow the calls' order)."""
        mode = self.settings["gan_mode"]
        fake_scales = self.discriminate(condition, ops.stop_gradient(fake), training)
        real_scales = self.discriminate(condition, target, training)
        loss = gan_objectives.discriminator_loss(mode, real_scales, fake_scales)
        accuracy = gan_objectives.discriminator_accuracy(mode, real_scales, fake_scales)
        return loss, {"discriminator_loss": loss, "discriminator_accuracy": accuracy}

    def generator_objective(self, condition, target, fake, training: bool
                            ) -> tuple[Any, dict[str, Any]]:
        """The generator's loss, a function of `fake`, and its logs."""
        s = self.settings
        fake_scales = self.discriminate(condition, fake, training)
        adversarial = gan_objectives.generator_loss(s["gan_mode"], fake_scales)
        reconstruction = ops.cast(self.reconstruction_loss(target, fake), "float32")
        loss = (s["reconstruction_weight"] * reconstruction
                + s["adversarial_weight"] * adversarial)
        logs = {"reconstruction_loss": reconstruction, "adversarial_loss": adversarial}
        if s["feature_matching_weight"]:
            real_scales = self.discriminate(condition, target, training)
            matching = gan_objectives.feature_matching_loss(real_scales, fake_scales)
            loss += s["feature_matching_weight"] * matching
            logs[FEATURE_MATCHING_LOG] = matching
        return loss, {"loss": loss, **logs}

    def _track(self, logs: dict[str, Any]) -> dict[str, Any]:
        """Each log into its epoch mean; the means so far."""
        for tracker in self.trackers:
            tracker.update_state(logs[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}

    # ------------------------------------------------------------------ the steps

    if keras.backend.backend() == "tensorflow":

        def train_step(self, data):
            import tensorflow as tf

            condition, target = data[:2]  # (x, y) from fit, (x, y, None) from train_on_batch
            generator, discriminator = self.generator, self.discriminator
            with tf.GradientTape() as generator_tape:
                fake = generator(condition, training=True)
            with tf.GradientTape() as tape:
                d_loss, d_logs = self.discriminator_objective(condition, target, fake, True)
                scaled = self.discriminator_optimizer.scale_loss(_per_replica(d_loss))
            d_grads = tape.gradient(scaled, discriminator.trainable_variables)

            def step_discriminator():
                self.discriminator_optimizer.apply(d_grads, discriminator.trainable_variables)

            if self.settings["sequential"]:
                step_discriminator()
            with tf.GradientTape() as tape:
                tape.watch(fake)
                g_loss, g_logs = self.generator_objective(condition, target, fake, True)
                scaled = self.optimizer.scale_loss(_per_replica(g_loss))
            fake_grads = tape.gradient(scaled, fake)
            g_grads = generator_tape.gradient(fake, generator.trainable_variables,
                                              output_gradients=fake_grads)
            if not self.settings["sequential"]:
                step_discriminator()
            self.optimizer.apply(g_grads, generator.trainable_variables)
            return self._track({**d_logs, **g_logs})

        def test_step(self, data):
            condition, target = data[:2]
            fake = self.generator(condition, training=False)
            _, d_logs = self.discriminator_objective(condition, target, fake, False)
            _, g_logs = self.generator_objective(condition, target, fake, False)
            return self._track({**d_logs, **g_logs})

    elif keras.backend.backend() == "jax":

        def train_step(self, state, data):
            import jax

            values = _Values(self, state)
            condition, target = data[:2]
            generator, discriminator = self.generator, self.discriminator
            d_optimizer, g_optimizer = self.discriminator_optimizer, self.optimizer
            d_weights = discriminator.trainable_variables
            g_weights = generator.trainable_variables

            def generate(weights):
                with values.scope(zip(g_weights, weights)) as scope:
                    fake = generator(condition, training=True)
                return fake, values.read(scope, generator.non_trainable_variables)

            fake, generator_backward, updates = jax.vjp(
                generate, values.of(g_weights), has_aux=True)
            values.set(generator.non_trainable_variables, updates)

            def discriminator_loss(weights):
                with values.scope(zip(d_weights, weights)) as scope:
                    loss, logs = self.discriminator_objective(condition, target, fake, True)
                    scaled = d_optimizer.scale_loss(loss)
                return scaled, (logs, values.read(scope, discriminator.non_trainable_variables))

            (_, (d_logs, updates)), d_grads = jax.value_and_grad(
                discriminator_loss, has_aux=True)(values.of(d_weights))
            values.set(discriminator.non_trainable_variables, updates)

            def step_discriminator():
                weights, slots = d_optimizer.stateless_apply(
                    values.of(d_optimizer.variables), d_grads, values.of(d_weights))
                values.set(d_weights, weights)
                values.set(d_optimizer.variables, slots)

            if self.settings["sequential"]:
                step_discriminator()

            def generator_loss(fake):
                with values.scope() as scope:
                    loss, logs = self.generator_objective(condition, target, fake, True)
                    scaled = g_optimizer.scale_loss(loss)
                return scaled, (logs, values.read(scope, discriminator.non_trainable_variables))

            (_, (g_logs, updates)), fake_grads = jax.value_and_grad(
                generator_loss, has_aux=True)(fake)
            values.set(discriminator.non_trainable_variables, updates)
            (g_grads,) = generator_backward(fake_grads)
            if not self.settings["sequential"]:
                step_discriminator()
            weights, slots = g_optimizer.stateless_apply(
                values.of(g_optimizer.variables), g_grads, values.of(g_weights))
            values.set(g_weights, weights)
            values.set(g_optimizer.variables, slots)
            logs = values.track(self, {**d_logs, **g_logs})
            return logs, (values.of(self.trainable_variables),
                          values.of(self.non_trainable_variables),
                          values.of(g_optimizer.variables), values.of(self.metrics_variables))

        def test_step(self, state, data):
            trainable, non_trainable, metrics = state
            values = _Values(self, (trainable, non_trainable, [], metrics))
            condition, target = data[:2]
            with values.scope():
                fake = self.generator(condition, training=False)
                _, d_logs = self.discriminator_objective(condition, target, fake, False)
                _, g_logs = self.generator_objective(condition, target, fake, False)
            logs = values.track(self, {**d_logs, **g_logs})
            return logs, (trainable, non_trainable, values.of(self.metrics_variables))

    else:  # pragma: no cover - the project runs on TensorFlow and JAX

        def train_step(self, *args):
            raise NotImplementedError(
                f"adversarial training runs on TensorFlow and JAX, not {keras.backend.backend()}")


def _per_replica(loss):
    """A replica's share of `loss` under a `tf.distribute` strategy, which sums the
    replicas' gradients (Keras scales its own losses so)."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    return loss / replicas if replicas > 1 else loss


class _Values:
    """The values of a model's variables in a JAX step: `fit`'s state, then each new
    value as the step makes it. `scope()` runs Keras code against them (a
    `keras.StatelessScope` mapping every variable), `read` takes what it assigned."""

    def __init__(self, model: keras.Model, state: Sequence[Sequence]):
        trainable, non_trainable, optimizer, metrics = state
        self._values: dict[int, Any] = {}
        self._variables: dict[int, Any] = {}
        for variables, values in ((model.trainable_variables, trainable),
                                  (model.non_trainable_variables, non_trainable),
                                  (model.optimizer.variables if optimizer else [], optimizer),
                                  (model.metrics_variables, metrics)):
            self.set(variables, values)

    def of(self, variables: Iterable) -> list:
        return [self._values[id(v)] for v in variables]

    def set(self, variables: Iterable, values: Iterable) -> None:
        for variable, value in zip(variables, values, strict=True):
            self._values[id(variable)] = value
            self._variables[id(variable)] = variable

    @contextlib.contextmanager
    def scope(self, replacing: Iterable = ()) -> Iterator[keras.StatelessScope]:
        """Keras code run against these values, those of `replacing` (pairs of
        variable, value: e.g. the weights a gradient is taken with respect to) instead."""
        mapping = dict(self._values)
        mapping.update((id(v), value) for v, value in replacing)
        with keras.StatelessScope(
                state_mapping=[(self._variables[key], value) for key, value in mapping.items()]
        ) as scope:
            yield scope

    def read(self, scope: keras.StatelessScope, variables: Iterable) -> list:
        """The values of `variables` after `scope`: assigned there, or as they were."""
        return [_first(scope.get_current_value(v), self._values[id(v)]) for v in variables]

    def track(self, model: ConditionalGAN, logs: dict[str, Any]) -> dict[str, Any]:
        """`model._track(logs)` against these values; the metric variables updated."""
        with self.scope() as scope:
            means = model._track(logs)
        self.set(model.metrics_variables, self.read(scope, model.metrics_variables))
        return means


def _first(value: Any, default: Any) -> Any:
    return default if value is None else value

