"""The spatially-correlative loss against values computed by the original code.

`tests/data/sesim_original.npz` comes from `shared/golden/` (see its README,
section `sesim_original.npz`): the original PyTorch `SpatialCorrelativeLoss`
of F-LSeSim run on fixed inputs. The golden tests are generated from the keys
found in the file, and `test_every_golden_key_is_checked` makes sure none is
left out. This module is backend-agnostic; `test_cos_checks_under_jax` reruns
part of it under JAX.
"""

import os
import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
import pytest

from backend_utils import (assert_close_to_scale, check_all_passed, rerun_under_jax,
                           value_and_grads)
from spl_tf.sesim import LSeSimHead, self_similarity, spatial_correlative_loss

GOLDEN = np.load(Path(__file__).parents[1] / "data" / "sesim_original.npz")
KEYS = frozenset(GOLDEN.files)

# README tolerances for a float32 reimplementation. The gradients (largest entries 1e-6
# to 0.24) are held relative to their scale: measured within 2.6e-5 of it (TF 2.21 CPU).
LOSS_TOL = {"rtol": 1e-4, "atol": 1e-6}
SIM_TOL = {"rtol": 0, "atol": 1e-5}
GRADIENT_SCALE_TOL = 1e-4

# branch -> (patch_size, uses X_sub_ids). `global_sub` ran with patch_size=64,
# larger than every map, which the original treats as "all positions are keys".
BRANCHES = {
    "global_all": (None, False),
    "local_ps3_all": (3, False),
    "local_ps5_all": (5, False),
    "local_ps3_sub": (3, True),
    "global_sub": (64, True),
}
MODES = ("cos", "l1", "info")
INPUTS = ("src", "tgt", "oth", "sub_ids")
HEAD_WEIGHTS = ("W1", "b1", "W2", "b2")

KEY_PATTERN = re.compile(
    r"(?P<case>[A-Z])_(?P<lsesim>lsesim_)?(?P<branch>{})_norm(?P<norm>[01])_"
    r"(?:(?P<mode>{})_(?:loss|grad_tgt)|sim_(?:src|tgt|oth))(?P<patched>_PATCHED)?".format(
        "|".join(BRANCHES), "|".join(MODES)
    )
)


class Config(NamedTuple):
    """One golden configuration; `mode` is None for the similarity maps."""

    case: str
    lsesim: bool
    branch: str
    norm: int
    mode: str | None
    patched: bool

    def key(self, name: str) -> str:
        head = "lsesim_" if self.lsesim else ""
        suffix = "_PATCHED" if self.patched else ""
        return f"{self.case}_{head}{self.branch}_norm{self.norm}_{name}{suffix}"

    def keys(self) -> set[str]:
        """Every golden key the test of this configuration reads."""
        if self.mode is None:
            names = ("sim_src", "sim_tgt", "sim_oth")
        else:
            names = (f"{self.mode}_loss", f"{self.mode}_grad_tgt")
        keys = {self.key(name) for name in names}
        if self.mode is not None:
            keys.add("T")  # the temperature, passed to every loss
        keys |= {f"{self.case}_{name}" for name in INPUTS if name != "sub_ids"}
        if BRANCHES[self.branch][1]:
            keys.add(f"{self.case}_sub_ids")
        if self.lsesim:
            keys |= {f"{self.case}_lsesim_{name}" for name in HEAD_WEIGHTS}
        return keys

    def options(self) -> dict:
        """Keyword arguments of `self_similarity` for this configuration."""
        patch_size, sub = BRANCHES[self.branch]
        _, height, width, _ = GOLDEN[f"{self.case}_src"].shape
        return {
            "patch_size": patch_size,
            "query_ids": GOLDEN[f"{self.case}_sub_ids"] if sub else None,
            "normalize": bool(self.norm),
            # Unsuffixed keys are the original's behaviour, which differs
            # from the correct window only on non-square maps.
            "original_window_quirk": not self.patched and height != width,
        }

    def __str__(self) -> str:
        parts = [f"case{self.case}", "lsesim" if self.lsesim else "", self.branch,
                 f"norm{self.norm}", self.mode or "", "PATCHED" if self.patched else ""]
        return "-".join(p for p in parts if p)


def _configs() -> tuple[list[Config], list[Config]]:
    found = set()
    for key in KEYS:
        match = KEY_PATTERN.fullmatch(key)
        if match:
            found.add(Config(match["case"], bool(match["lsesim"]), match["branch"],
                             int(match["norm"]), match["mode"], bool(match["patched"])))
    ordered = sorted(found, key=str)
    return [c for c in ordered if c.mode is None], [c for c in ordered if c.mode]


SIM_CONFIGS, LOSS_CONFIGS = _configs()


@cache
def _head(case: str) -> LSeSimHead:
    """The learned head with the golden weights of `case`."""
    weights = [GOLDEN[f"{case}_lsesim_{name}"] for name in HEAD_WEIGHTS]
    head = LSeSimHead()
    head.build(GOLDEN[f"{case}_src"].shape)
    head.set_weights(weights)
    return head


def _features(cfg: Config):
    """What the loss sees: the features, or the head applied to them."""
    return _head(cfg.case) if cfg.lsesim else (lambda x: x)


def test_backend_is_the_requested_one():
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


@pytest.mark.parametrize("cfg", SIM_CONFIGS, ids=str)
def test_similarity_maps(cfg):
    features = _features(cfg)
    for which in ("src", "tgt", "oth"):
        expected = GOLDEN[cfg.key(f"sim_{which}")]
        actual = self_similarity(features(GOLDEN[f"{cfg.case}_{which}"]), **cfg.options())
        actual = keras.ops.convert_to_numpy(actual)
        assert actual.shape == expected.shape and actual.dtype == np.float32
        np.testing.assert_allclose(actual, expected, **SIM_TOL, err_msg=which)


@pytest.mark.parametrize("cfg", LOSS_CONFIGS, ids=str)
def test_loss_and_target_gradient(cfg):
    features = _features(cfg)
    other = GOLDEN[f"{cfg.case}_oth"] if cfg.mode == "info" else None

    def loss(source, target):
        return spatial_correlative_loss(
            features(source),
            target=features(target),
            other=None if other is None else features(other),
            mode=cfg.mode,
            temperature=float(GOLDEN["T"]),
            **cfg.options(),
        )

    src, tgt = GOLDEN[f"{cfg.case}_src"], GOLDEN[f"{cfg.case}_tgt"]
    value, (_, grad) = value_and_grads(loss, src, tgt)
    np.testing.assert_allclose(value, GOLDEN[cfg.key(f"{cfg.mode}_loss")], **LOSS_TOL)
    assert_close_to_scale(grad, GOLDEN[cfg.key(f"{cfg.mode}_grad_tgt")], GRADIENT_SCALE_TOL)


def test_every_golden_key_is_checked():
    used = set().union(*(cfg.keys() for cfg in SIM_CONFIGS + LOSS_CONFIGS))
    assert used <= KEYS
    assert sorted(KEYS - used) == []


def test_golden_file_has_the_full_grid():
    """Parametrising from the file must not hide a family missing from it."""
    cases = sorted({key.split("_")[0] for key in KEYS} - {"T"})
    assert cases == ["A", "B", "C"]
    expected = set()
    for case in cases:
        square = GOLDEN[f"{case}_src"].shape[1] == GOLDEN[f"{case}_src"].shape[2]
        for norm in (0, 1):
            for mode in (None, *MODES):
                for branch in BRANCHES:
                    expected.add(Config(case, False, branch, norm, mode, False))
                    if not square and branch.startswith("local"):
                        expected.add(Config(case, False, branch, norm, mode, True))
                for branch in ("global_all", "local_ps3_all"):
                    expected.add(Config(case, True, branch, norm, mode, False))
    assert set(SIM_CONFIGS + LOSS_CONFIGS) == expected


def test_window_quirk_matters_only_off_square():
    for case in ("A", "B", "C"):
        features = GOLDEN[f"{case}_src"]
        ids = GOLDEN[f"{case}_sub_ids"]
        right = self_similarity(features, ids, patch_size=3)
        quirk = self_similarity(features, ids, patch_size=3, original_window_quirk=True)
        same = np.array_equal(keras.ops.convert_to_numpy(right), keras.ops.convert_to_numpy(quirk))
        assert same == (features.shape[1] == features.shape[2]), case


def test_even_window_puts_the_query_below_right_of_centre():
    """A 4x4 window around (3, 3) covers rows and columns 1..4, as the original's."""
    features = np.random.default_rng(1).normal(size=(1, 8, 8, 4)).astype("float32")
    query = 3 * 8 + 3
    sim = keras.ops.convert_to_numpy(self_similarity(features, [query], patch_size=4))
    full = keras.ops.convert_to_numpy(self_similarity(features, [query]))[0, 0].reshape(8, 8)
    np.testing.assert_allclose(sim[0, 0], full[1:5, 1:5].ravel(), rtol=1e-6)


def test_loss_ignores_query_order():
    """The training default draws the queries at random: the order is irrelevant."""
    order = np.random.default_rng(0).permutation(16 * 16)
    loss = spatial_correlative_loss(GOLDEN["C_src"], GOLDEN["C_tgt"], query_ids=order)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loss), GOLDEN["C_global_all_norm0_cos_loss"], **LOSS_TOL
    )


def test_head_width_and_serialisation():
    head = LSeSimHead()
    assert head.compute_output_shape((None, 4, 4, 256)) == (None, 4, 4, 64)
    assert tuple(head(np.zeros((1, 2, 2, 16), "float32")).shape) == (1, 2, 2, 32)
    kernel = keras.ops.convert_to_numpy(head.w1)
    assert abs(kernel.std() - 0.02) < 0.006  # the original's N(0, 0.02)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(head))
    assert isinstance(clone, LSeSimHead) and clone.get_config() == head.get_config()


A_SRC, A_TGT, A_OTH = GOLDEN["A_src"], GOLDEN["A_tgt"], GOLDEN["A_oth"]
ERRORS = {
    "rank": (dict(source=A_SRC[0], target=A_TGT[0]), "rank-4"),
    "shape": (dict(source=A_SRC, target=A_TGT[:, :4]), "same shape"),
    "other_shape": (dict(source=A_SRC, target=A_TGT, other=A_OTH[..., :8], mode="info"),
                    "same shape"),
    "mode": (dict(source=A_SRC, target=A_TGT, mode="L1"), "mode must be"),
    "info_without_other": (dict(source=A_SRC, target=A_TGT, mode="info"), "needs `other`"),
    "other_without_info": (dict(source=A_SRC, target=A_TGT, other=A_OTH), "'info' only"),
    "zero_patch": (dict(source=A_SRC, target=A_TGT, patch_size=0), "positive integer"),
    "negative_patch": (dict(source=A_SRC, target=A_TGT, patch_size=-3), "positive integer"),
    "id_too_large": (dict(source=A_SRC, target=A_TGT, query_ids=[0, 64]), r"\[0, 64\)"),
    "id_negative": (dict(source=A_SRC, target=A_TGT, query_ids=[-1]), r"\[0, 64\)"),
    "ids_not_1d": (dict(source=A_SRC, target=A_TGT, query_ids=[[1, 2]]), "1-D"),
    "temperature": (dict(source=A_SRC, target=A_TGT, other=A_OTH, mode="info",
                         temperature=0.0), "temperature"),
    "l1_one_key": (dict(source=A_SRC, target=A_TGT, mode="l1", patch_size=1), "at least 4"),
}


@pytest.mark.parametrize("kwargs,match", ERRORS.values(), ids=ERRORS.keys())
def test_loss_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        spatial_correlative_loss(**kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(features=A_SRC[0]), "rank-4"),
        (dict(features=A_SRC, patch_size=2.5), "positive integer"),
        (dict(features=A_SRC, query_ids=[64]), r"\[0, 64\)"),
    ],
    ids=["rank", "fractional_patch", "id_range"],
)
def test_similarity_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        self_similarity(**kwargs)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="spawned from TF only")
@rerun_under_jax(__file__, "-k", "(caseA or caseC) and (cos or similarity) and not jax")
def test_cos_checks_under_jax(jax_rerun):
    """The `cos` golden checks and similarity maps of A and C, on JAX."""
    expected = sum(
        cfg.case in "AC" and cfg.mode in (None, "cos") for cfg in SIM_CONFIGS + LOSS_CONFIGS
    )
    check_all_passed(jax_rerun, expected)
