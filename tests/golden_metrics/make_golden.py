"""Golden values of LPIPS, FID and KID from the reference packages, on seeded weights.

Runs in a virtual env of its own, never the project's (PyTorch is not a dependency):

    python3.11 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 lpips==0.1.4 \\
        pytorch-fid==0.3.0 torch-fidelity==0.4.0 scipy
    /tmp/refvenv/bin/python tests/golden_metrics/make_golden.py

and writes, under tests/data/:

- `metrics_reference.json`: the reference's values, the seeds, the names and shapes of
  the seeded tensors (in the order `seeded.state_dict` makes them), the package versions,
  and each value's tolerance, measured here: the reference run in float32 (the golden
  value) against the same run in float64; the tolerance is 10 times the largest
  difference seen, at least 1e-6 relative;
- `metrics_reference.npz`: the Inception pool features of the FID images (float32);
- `torch_weights/`: small files written by `torch.save` in both layouts (zip; legacy,
  that of the published weights) for the reader's tests, and the seeded LPIPS heads as
  legacy files, as lpips publishes its own. (A legacy file names its storages by object
  ids: its bytes differ from run to run, its tensors do not.)

Nothing here needs the network: the backbones are built with random weights (then
replaced by the seeded ones) and pytorch-fid's weight download is replaced by the seeded
state dict.
"""

from __future__ import annotations

import collections
import json
import sys
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[0] / "data"
sys.path.insert(0, str(HERE))
import seeded  # noqa: E402

SEED = 20240601
LPIPS_CASES = {  # name: (image seed, pairs, height, width, value range)
    "pm1_64": (1, 3, 64, 64, (-1.0, 1.0)),
    "unit_48x72": (2, 2, 48, 72, (0.0, 1.0)),
}
FID_IMAGES = {"a": (11, 6, 32, 32), "b": (12, 6, 40, 48)}  # seed, count, height, width
KID_FEATURES = {"a": (21, 40), "b": (22, 30)}  # seed, count
KID_CASES = {  # name: (subset size, subsets, rng seed)
    "default_seed": (20, 8, 2020),
    "other_seed": (25, 5, 7),
}
KID_IMAGE_CASE = (4, 5, 2020)  # on the FID images' features
FRECHET_CASES = {  # name: (seed, count a, count b, dims): SciPy's sqrtm at 2048 dims takes a
    # minute on a laptop CPU; the distance's own steps are checked on small statistics.
    "full_rank": (31, 200, 150, 24),
    "singular": (32, 12, 9, 40),
}


def main() -> None:
    torch.set_num_threads(2)
    torch.manual_seed(0)
    (DATA / "torch_weights").mkdir(parents=True, exist_ok=True)
    golden = {"seed": SEED, "versions": _versions()}
    golden["reader"] = write_reader_files()
    golden["lpips"] = {net: lpips_golden(net) for net in ("alex", "vgg")}
    golden["fid"], features = fid_golden()
    golden["kid"] = kid_golden(features)
    golden["frechet"] = frechet_golden()
    (DATA / "metrics_reference.json").write_text(json.dumps(golden, indent=1) + "\n")
    np.savez_compressed(DATA / "metrics_reference.npz",
                        **{f"fid_features_{k}": v for k, v in features.items()})
    print(json.dumps({k: v for k, v in golden.items() if k not in ("lpips", "fid")}, indent=1)
          [:3000])


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    return {name: md.version(name) for name in
            ("torch", "torchvision", "lpips", "pytorch-fid", "torch-fidelity", "numpy",
             "scipy")}


def _tolerance(golden, exact) -> tuple[float, float]:
    """(largest relative difference of float32 from float64, the tolerance stated)."""
    golden, exact = np.asarray(golden, np.float64), np.asarray(exact, np.float64)
    measured = float(np.max(np.abs(golden - exact) / np.maximum(np.abs(exact), 1e-30)))
    return measured, max(10 * measured, 1e-6)


# ---------------------------------------------------------------- the reader's files


def write_reader_files() -> dict:
    tensors = {name: torch.from_numpy(value) for name, value in seeded.reader_tensors().items()}
    conv = tensors["conv"]
    state = collections.OrderedDict(tensors)
    state["bfloat16"] = conv.to(torch.bfloat16)
    state["transposed"] = conv.permute(3, 2, 1, 0)  # strides that are not C-order
    state["slice"] = conv[1, :, 2]  # a view into the middle of conv's storage
    for layout, zip_layout in (("zip", True), ("legacy", False)):
        torch.save(state, DATA / "torch_weights" / f"{layout}.pth",
                   _use_new_zipfile_serialization=zip_layout)
    return {"files": ["zip.pth", "legacy.pth"],
            "derived": {"bfloat16": "conv as bfloat16", "transposed": "conv.permute(3,2,1,0)",
                        "slice": "conv[1, :, 2]"}}


# ---------------------------------------------------------------- LPIPS


def lpips_golden(net: str) -> dict:
    import lpips

    model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    # `lins.K` is `linK` registered a second time; the scaling layer holds constants.
    shapes = [[name, list(value.shape)] for name, value in model.state_dict().items()
              if not name.startswith(("scaling_layer.", "lins."))]
    state = seeded.state_dict(shapes, SEED)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    assert all(torch.equal(model.state_dict()[k], torch.from_numpy(v)) for k, v in state.items())
    # The heads as lpips publishes its own: a legacy file of lin*.model.1.weight.
    heads = collections.OrderedDict(
        (k, torch.from_numpy(v)) for k, v in state.items() if k.startswith("lin"))
    heads_file = f"lpips_{net}_heads_seeded.pth"
    torch.save(heads, DATA / "torch_weights" / heads_file, _use_new_zipfile_serialization=False)

    model.eval()
    cases = {}
    for case, (seed, pairs, height, width, value_range) in LPIPS_CASES.items():
        x0, x1 = (_in_range(seeded.images(seed + k, pairs, height, width), value_range)
                  for k in (0, 100))
        normalize = value_range == (0.0, 1.0)
        values = {}
        for dtype in (torch.float32, torch.float64):
            model.to(dtype)
            with torch.no_grad():
                out = model(_nchw(x0, dtype), _nchw(x1, dtype), normalize=normalize)
            values[dtype] = out.reshape(-1).numpy().astype(np.float64)
        measured, tolerance = _tolerance(values[torch.float32], values[torch.float64])
        cases[case] = {"image_seeds": [seed, seed + 100], "pairs": pairs, "height": height,
                       "width": width, "value_range": list(value_range),
                       "normalize": normalize, "values": values[torch.float32].tolist(),
                       "values_float64": values[torch.float64].tolist(),
                       "measured": measured, "rtol": tolerance}
        model.to(torch.float32)
    return {"shapes": shapes, "heads_file": heads_file, "cases": cases}


def _in_range(images_uint8: np.ndarray, value_range) -> np.ndarray:
    """uint8 images as float32 in `value_range` (the tests map them the same way)."""
    low, high = value_range
    return (images_uint8.astype(np.float32) / 255.0 * (high - low) + low).astype(np.float32)


def _nchw(images: np.ndarray, dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(dtype)


# ---------------------------------------------------------------- FID


def fid_model():
    """pytorch-fid's InceptionV3 (2048-d pool features) with the seeded weights in place
    of its download; and the (name, shape) list of the published file's tensors."""
    import torchvision
    from pytorch_fid import inception

    # First build: the published file's names and shapes, from the network itself.
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch.object(torchvision.models.Inception3, "load_state_dict",
                              lambda self, state: None):
        shapes = [[name, list(value.shape)]
                  for name, value in inception.fid_inception_v3().state_dict().items()]
    state = {k: torch.from_numpy(v) for k, v in seeded.state_dict(shapes, SEED).items()}
    # Second build: pytorch-fid loads the seeded state dict itself (strictly).
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
        model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
    return model.eval(), shapes


def fid_golden():
    from pytorch_fid import fid_score

    model, shapes = fid_model()
    features, exact, images = {}, {}, {}
    for key, (seed, count, height, width) in FID_IMAGES.items():
        images[key] = seeded.images(seed, count, height, width)
        for dtype, out in ((torch.float32, features), (torch.float64, exact)):
            model.to(dtype)
            with torch.no_grad():  # pytorch-fid's input: ToTensor() of the 8-bit image
                pool = model(_nchw(images[key].astype(np.float32) / 255.0, dtype))[0]
            out[key] = pool.squeeze(3).squeeze(2).numpy()
        model.to(torch.float32)
    stats = {k: (np.mean(v.astype(np.float64), axis=0), np.cov(v, rowvar=False))
             for k, v in features.items()}
    stats64 = {k: (np.mean(v, axis=0), np.cov(v, rowvar=False)) for k, v in exact.items()}
    fid = float(fid_score.calculate_frechet_distance(*stats["a"], *stats["b"]))
    fid64 = float(fid_score.calculate_frechet_distance(*stats64["a"], *stats64["b"]))

    # pytorch-fid's own path over folders of PNGs gives the same value.
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        for key, batch in images.items():
            (Path(tmp) / key).mkdir()
            for i, image in enumerate(batch):
                Image.fromarray(image).save(Path(tmp) / key / f"{i:03d}.png")
        network = mock.Mock(BLOCK_INDEX_BY_DIM={2048: 3}, return_value=model)
        with mock.patch("pytorch_fid.fid_score.InceptionV3", network):
            fid_paths = float(fid_score.calculate_fid_given_paths(
                [str(Path(tmp) / "a"), str(Path(tmp) / "b")], batch_size=4, device="cpu",
                dims=2048, num_workers=0))
    assert abs(fid_paths - fid) <= 1e-6 * abs(fid), (fid_paths, fid)

    feature_measured, _ = _tolerance(np.concatenate([features["a"], features["b"]]),
                                     np.concatenate([exact["a"], exact["b"]]))
    feature_scale = float(max(np.abs(v).max() for v in exact.values()))
    feature_error = float(max(np.abs(features[k] - exact[k]).max() for k in features))
    measured, tolerance = _tolerance(fid, fid64)
    golden = {
        "shapes": shapes,
        "images": {k: {"seed": s, "count": c, "height": h, "width": w}
                   for k, (s, c, h, w) in FID_IMAGES.items()},
        "features_file": "metrics_reference.npz",
        "feature_abs_error": feature_error, "feature_scale": feature_scale,
        # Features: float32 against float64, relative to the largest feature.
        "feature_atol": max(10 * feature_error, 1e-6 * feature_scale),
        "feature_measured_elementwise": feature_measured,
        "fid": fid, "fid_float64": fid64, "fid_from_png_folders": fid_paths,
        "measured": measured, "rtol": tolerance,
    }
    return golden, features


def frechet_golden() -> dict:
    """pytorch-fid's distance of the statistics (np.mean in float64, np.cov) of seeded
    features of a few dimensions."""
    from pytorch_fid import fid_score

    cases = {}
    for case, (seed, count_a, count_b, dims) in FRECHET_CASES.items():
        a = seeded.features(seed, count_a, dims)
        b = seeded.features(seed + 100, count_b, dims) * 1.3
        stats = [(np.mean(f.astype(np.float64), axis=0), np.cov(f, rowvar=False)) for f in (a, b)]
        value = float(fid_score.calculate_frechet_distance(*stats[0], *stats[1]))
        cases[case] = {"seeds": [seed, seed + 100], "counts": [count_a, count_b], "dims": dims,
                       "scale_b": 1.3, "fid": value}
    return cases


# ---------------------------------------------------------------- KID


def kid_golden(fid_features: dict) -> dict:
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    def kid(f1, f2, subset_size, subsets, rng_seed):
        out = kid_features_to_metric(torch.from_numpy(f1), torch.from_numpy(f2),
                                     kid_subsets=subsets, kid_subset_size=subset_size,
                                     rng_seed=rng_seed, verbose=False)
        return out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD]

    feats = {k: seeded.features(seed, count) for k, (seed, count) in KID_FEATURES.items()}
    cases = {}
    for case, (size, subsets, rng_seed) in KID_CASES.items():
        value = kid(feats["a"], feats["b"], size, subsets, rng_seed)
        exact = kid(feats["a"].astype(np.float64), feats["b"].astype(np.float64), size,
                    subsets, rng_seed)
        cases[case] = _kid_case(value, exact, size, subsets, rng_seed)
    size, subsets, rng_seed = KID_IMAGE_CASE
    value = kid(fid_features["a"], fid_features["b"], size, subsets, rng_seed)
    exact = kid(fid_features["a"].astype(np.float64), fid_features["b"].astype(np.float64),
                size, subsets, rng_seed)
    return {"features": {k: {"seed": s, "count": c} for k, (s, c) in KID_FEATURES.items()},
            "cases": cases,
            "fid_images": _kid_case(value, exact, size, subsets, rng_seed)}


def _kid_case(value, exact, size, subsets, rng_seed) -> dict:
    """KID's mean and std, with tolerances relative to the kernel sums' scale: a mean near
    0 is a difference of sums of order 1, whose float32 rounding is what is measured."""
    error = max(abs(value[0] - exact[0]), abs(value[1] - exact[1]))
    return {"subset_size": size, "subsets": subsets, "rng_seed": rng_seed,
            "mean": value[0], "std": value[1], "mean_float64": exact[0],
            "std_float64": exact[1], "abs_error": error, "atol": max(10 * error, 1e-7)}


if __name__ == "__main__":
    main()
