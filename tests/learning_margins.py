"""How far above the models that have not learned each application's short run must land
on held-out data (tests/applications_tests/test_learning.py), how close `make demo` must come to the
README's figures (tests/applications_tests/test_demo.py), and what was measured to choose them.

Re-measure with `python tests/measure_learning.py` (the table below is its output, on 2
CPU cores, TensorFlow 2.21, Keras 3.15, 2026-12-06). "Over" is the run's score minus the best
baseline's of the same seed (the untrained model differs per seed); a broken trainer is
the working one with its loss negated, a learning rate of 0, or each batch's targets
rolled by one against its inputs. Each margin lies between the working runs' least
"over" and the broken runs' greatest, with room for noise on both sides.
"""

# pix2pix, negative -> photo, PSNR dB / SSIM; best baseline: the mean target, 11.41 / 0.198
#                      seed 0          seed 1          seed 2     least / greatest over
#   learned         13.96 / 0.547   15.18 / 0.564   16.22 / 0.601   +2.55 / +0.349
#   negated loss     6.01 / -0.167   5.82 / -0.200                  -5.40 / -0.365
#   learning rate 0 10.14 / 0.053    9.54 / 0.046                   -1.27 / -0.145
#   shuffled         7.07 / 0.140   10.48 / 0.144                   -0.93 / -0.054
PIX2PIX = {"psnr": 1.0, "ssim": 0.15}

# SRResNet x4, 4x4 block means, on Y; best baseline: the untrained model (SSIM 0.498,
# 0.476, 0.519 by seed; PSNR 16.63: the mid-grey it starts from, which SPL does not pin:
# see test_learning.sr_outcome). Nearest-neighbour 30.56 / 0.772, bicubic 32.49 / 0.831.
#   learned         12.69 / 0.654   13.55 / 0.669   14.89 / 0.690   SSIM +0.156
#   negated loss    15.60 / 0.536    8.14 / 0.322                   SSIM +0.038
#   learning rate 0 16.42 / 0.286   16.26 / 0.239                   SSIM -0.212
#   shuffled        10.75 / 0.378    8.80 / 0.449                   SSIM -0.027
SRRESNET = {"ssim": 0.1}

# Makeup, recoloured faces with the answer known; best baseline: the untrained model
# (PSNR 19.24, 19.12, 19.75 by seed; the source without makeup 17.83 / 0.948).
#   learned         22.36 / 0.957   22.23 / 0.957   22.37 / 0.958   PSNR +2.62
#   negated loss     3.76 / -0.020   4.52 / 0.003                   PSNR -14.60
#   learning rate 0 19.24 / 0.808   19.12 / 0.785                   PSNR  0.00
#   shuffled         8.28 / 0.292    8.26 / 0.337                   PSNR -10.86
MAKEUP = {"psnr": 1.5}

# `make demo` (8 epochs, its own seed 0) against the README's Quick start figures (11 dB /
# 0.36, the sketch 4.2 / 0.21, the mean training photo 12.2 / 0.37). Over training seeds
# 0, 1, 2: 10.76 / 0.344, 10.52 / 0.362, 11.59 / 0.361; the sketch (4.23 / 0.211) and the
# mean training photo (12.19 / 0.371) are the same for every seed: the data are fixed.
DEMO = {
    "output": {"psnr": 1.0, "ssim": 0.04},
    "sketch": {"psnr": 0.05, "ssim": 0.005},
    "mean photo": {"psnr": 0.05, "ssim": 0.005},
}
