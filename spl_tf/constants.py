"""The numbers of the original's profiles, shared by `spl_tf.profiles` (keras.ops) and the
fused kernel (`spl_tf.kernels`), which would otherwise import each other."""

EPSILON = 1e-12
"""The squared-norm floor of TensorFlow's `l2_normalize`, used by the original."""

# TensorFlow's `rgb_to_yuv` kernel (columns Y, U, V), as the original uses.
RGB_TO_YUV = (
    (0.299, -0.14714119, 0.61497538),
    (0.587, -0.28886916, -0.51496512),
    (0.114, 0.43601035, -0.10001026),
)

IDENTITY, DX, DY = "identity", "dx", "dy"
POSITIONS = (IDENTITY, DX, DY)
"""How a profile is taken: from the image itself or from its x / y gradient."""
