"""Tiny configs of the three applications, for fast tests (one residual block: a
process traces a third of ResNet-9's graph)."""

from pathlib import Path

from applications.common.config import (GeneratorConfig, PredictionConfig, RuntimeConfig,
                                        TrainingConfig)
from applications.makeup.config import MakeupConfig, MakeupData, MakeupPredictConfig
from applications.pix2pix.config import Pix2PixConfig, Pix2PixData, Pix2PixPredictConfig
from applications.srresnet.config import (SRConfig, SRData, SRPredictConfig, SRResNetConfig,
                                          SRTargets)


def _training(epochs: int, batch_size: int, **runtime) -> dict:
    return {"training": TrainingConfig(batch_size=batch_size, epochs=epochs, verbose=0),
            "runtime": RuntimeConfig(**{"jit_compile": "false", **runtime})}


def pix2pix(data_dir: Path, epochs: int = 1, ngf: int = 4, image_size: int = 32,
            batch_size: int = 4, direction: str = "AtoB", num_blocks: int = 1,
            **runtime) -> Pix2PixConfig:
    return Pix2PixConfig(
        data=Pix2PixData(data_dir=str(data_dir), image_size=image_size, direction=direction),
        model=GeneratorConfig(ngf=ngf, num_blocks=num_blocks), **_training(epochs, batch_size, **runtime))


def makeup(data_dir: Path, epochs: int = 1, ngf: int = 4, image_size: int = 32,
           batch_size: int = 4, val_fraction: float = 0.1, num_blocks: int = 1,
           **runtime) -> MakeupConfig:
    return MakeupConfig(
        data=MakeupData(data_dir=str(data_dir), image_size=image_size, val_fraction=val_fraction),
        model=GeneratorConfig(ngf=ngf, num_blocks=num_blocks), **_training(epochs, batch_size, **runtime))


def srresnet(data_dir: Path, epochs: int = 1, lr_crop_size: int = 8, batch_size: int = 2,
             val_images: int = 1, filters: int = 8, **runtime) -> SRConfig:
    return SRConfig(
        data=SRData(data_dir=str(data_dir), lr_crop_size=lr_crop_size, val_images=val_images),
        model=SRResNetConfig(num_blocks=1, filters=filters),
        **_training(epochs, batch_size, **runtime))


def pix2pix_flags(data_dir: Path, model_dir: Path, epochs: int, *extra: str) -> list[str]:
    """The flags of a tiny pix2pix training command (8 pairs: 2 steps an epoch)."""
    return [f"--data_dir={data_dir}", f"--model_dir={model_dir}", "--batch_size=4",
            f"--epochs={epochs}", "--image_size=16", "--ngf=2", "--num_blocks=1",
            "--jit_compile=false", "--verbose=0", *extra]


def predict(predict_class: type, data, **prediction) -> object:
    """A predict config of `predict_class` (e.g. Pix2PixPredictConfig) with `data`."""
    return predict_class(prediction=PredictionConfig(**{
        k: str(v) if isinstance(v, Path) else v for k, v in prediction.items()}), data=data)


__all__ = ["MakeupPredictConfig", "Pix2PixPredictConfig", "SRPredictConfig", "SRTargets",
           "makeup", "pix2pix", "pix2pix_flags", "predict", "srresnet"]


def experiment_flags(experiment_dir: Path, *extra: str, epochs: int = 1) -> list[str]:
    """spl-experiment's smoke preset cut to the bone: `epochs` epochs of the built-in
    data, scored once during training, two test images in the grid."""
    return [f"--experiment_dir={experiment_dir}", "--preset=smoke", f"--epochs={epochs}",
            f"--eval_points={epochs}", "--grid_images=2", *extra]
