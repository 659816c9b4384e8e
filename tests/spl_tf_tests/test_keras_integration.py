"""The losses inside Keras training on the TensorFlow backend: XLA, mixed
precision, saving, and MirroredStrategy."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from spl_tf import SPL

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow-backend integration"
)


def _data(n=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")
    y = np.clip(x[..., ::-1] * 0.8, -1, 1).astype("float32")  # a colour remap to learn
    return x, y


def _model(seed=0, size=16):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 3))
    hidden = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="tanh", dtype="float32")(hidden)
    return keras.Model(inputs, outputs)


def test_fit_with_jit_compile_reduces_the_loss():
    x, y = _data()
    model = _model()
    model.compile(keras.optimizers.Adam(1e-2), loss=SPL(), jit_compile=True)
    before = model.evaluate(x, y, verbose=0)
    history = model.fit(x, y, batch_size=4, epochs=15, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.evaluate(x, y, verbose=0) < before - 0.5


def test_mixed_bfloat16_policy():
    x, y = _data()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = _model()
        hidden_dtype = model.layers[1].compute_dtype
        model.compile(keras.optimizers.Adam(1e-2), loss=SPL(), jit_compile=True)
        history = model.fit(x, y, batch_size=4, epochs=3, verbose=0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert hidden_dtype == "bfloat16"
    assert np.all(np.isfinite(history.history["loss"]))
    # The loss itself sees bfloat16 predictions and still answers in float32.
    prediction = tf.cast(model.predict(x, verbose=0), tf.bfloat16)
    value = SPL()(y, prediction)
    assert value.dtype == tf.float32 and np.isfinite(value.numpy())


def test_saved_model_loads_without_custom_objects(tmp_path):
    x, y = _data()
    model = _model()
    loss = SPL(gp_weight=2.0, yuv=False, value_range=(-1, 1), reduction="sum")
    model.compile(keras.optimizers.Adam(1e-3), loss=loss)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.loss, SPL)
    assert restored.loss.get_config() == loss.get_config()
    np.testing.assert_allclose(restored.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0), rtol=1e-6)


def test_mirrored_strategy_matches_one_device():
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "conftest.py sets up two logical CPUs"
    x, y = _data(n=16)

    def train(strategy):
        with strategy.scope():
            model = _model(seed=1)
            model.compile(keras.optimizers.SGD(0.05), loss=SPL())
        history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
        return history.history["loss"], model.get_weights()

    single_loss, single_weights = train(tf.distribute.OneDeviceStrategy(devices[0].name))
    mirrored = tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
    assert mirrored.num_replicas_in_sync == 2
    mirrored_loss, mirrored_weights = train(mirrored)
    np.testing.assert_allclose(mirrored_loss, single_loss, rtol=1e-5)
    for a, b in zip(mirrored_weights, single_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_unknown_height_and_width_at_trace_time():
    """Fully convolutional models: H and W are only known when the step runs."""
    spec = tf.TensorSpec([None, None, None, 3], tf.float32)
    loss = SPL(reduction=None)

    @tf.function(input_signature=[spec, spec], jit_compile=False)
    def traced(y_true, y_pred):
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = loss(y_true, y_pred)
        return value, tape.gradient(value, y_pred)

    # One-pixel-high and -wide images too: no y (x) differences, an empty view.
    for size in ((2, 12, 10), (1, 16, 24), (2, 1, 6), (2, 5, 1)):
        rng = np.random.default_rng(size[1])
        y_true = rng.uniform(-1, 1, size + (3,)).astype("float32")
        y_pred = rng.uniform(-1, 1, size + (3,)).astype("float32")
        value, grad = traced(y_true, y_pred)
        with tf.GradientTape() as tape:
            y_pred_t = tf.constant(y_pred)
            tape.watch(y_pred_t)
            eager = loss(y_true, y_pred_t)
        assert value.shape == (size[0],)
        np.testing.assert_allclose(value, eager, rtol=1e-6)
        np.testing.assert_allclose(grad, tape.gradient(eager, y_pred_t), atol=1e-7)

    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(3, 3, padding="same")])
    model.compile("adam", loss=SPL())
    x, y = _data(n=4)
    assert np.isfinite(model.fit(x, y, epochs=1, verbose=0).history["loss"][0])


def test_the_loss_sees_whether_xla_compiles_it_on_the_cpu(monkeypatch):
    # The XLA form of the column sums is 0.75 of the step's time under XLA on the CPU,
    # and 3x the plain one without XLA: the choice must follow what compiles the trace.
    from spl_tf import profiles

    seen = []

    def probe():
        seen.append(profiles._compiling_for_xla_on_cpu())

    probe()
    tf.function(probe)()
    tf.function(probe, jit_compile=True)()
    tf.function(lambda: tf.function(probe)(), jit_compile=True)()  # nested, inside XLA
    assert seen == [False, False, True, True]
    # With a GPU (or TPU) XLA fuses the products into the reduce itself: the plain form.
    devices = tf.config.list_logical_devices() + [
        tf.config.LogicalDevice("/device:GPU:0", "GPU")]
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda *_: devices)
    tf.function(probe, jit_compile=True)()
    assert seen[-1] is False
