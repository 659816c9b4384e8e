"""spl_tf: the Spatial Profile Loss (BMVC 2019) for TensorFlow 2 / Keras 3."""
import re
from pathlib import Path

from setuptools import find_packages, setup

# One version string, in spl_tf/version.py (read as text: importing spl_tf needs Keras).
VERSION = re.search(r'__version__ = "([^"]+)"',
                    Path(__file__).with_name("spl_tf").joinpath("version.py").read_text())[1]

setup(
    name="spl_tf",
    version=VERSION,
    description=(
        "Spatial Profile Loss (Sarfraz et al., BMVC 2019) as Keras 3 losses, "
        "exact to the original release."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    author="the spl_tf authors",
    license="MIT",
    license_files=["LICENSE"],
    python_requires=">=3.10,<3.14",
    packages=find_packages(
        include=["spl_tf", "spl_tf.*", "spl_tf.utils", "applications", "applications.*",
                 "fcc_dataset"]
    ),
    # Floors: the oldest versions `make test-compat` passes with (tests/compat/oldest.txt pins
    # them). No upper bound where none is known to break, so that installing into a runtime
    # that already has TensorFlow (Colab) keeps its TensorFlow.
    install_requires=[
        "tensorflow>=2.16",  # the first with Keras 3
        # Keras < 3.10 reports a wrong `fit` loss under MirroredStrategy.
        "keras>=3.10,<4",
        # TF 2.21 no longer pulls TensorBoard in; the trainers log to it. (2.16.0 and 2.16.1
        # require tf-keras-nightly and tf-keras, which pull in a second TensorFlow.)
        "tensorboard>=2.16.2",
        "numpy>=1.26,<3",
        "absl-py>=2.1,<3",
        "tensorflow-datasets>=4.9.3,<5",
        # tensorflow-datasets 4.9 imports it to prepare any dataset (DatasetBuilder.code_path)
        # but declares it for Python < 3.9 only.
        "importlib_resources>=6,<8",
        # spl-data's progress bars (tensorflow-datasets brings it too).
        "tqdm>=4.66,<5",
        "opencv-python-headless>=4.10,<6",
        "scikit-image>=0.24,<0.27",
        # fcc_dataset.align catches scipy's QhullError from the piecewise-affine warp.
        "scipy>=1.11,<2",
        "matplotlib>=3.8,<4",
        # spl_tf.utils.image_io reads each image's EXIF orientation from its header.
        "pillow>=10,<14",
    ],
    extras_require={
        # Makeup transfer and its aligned pairs (spl-makeup-transfer, fcc-pairs): dlib's face
        # detector and its 68-point landmark model, as wheels (no system packages needed).
        "makeup": [
            "dlib-bin>=19.24,<21",
            "face-recognition-models>=0.3,<0.4",
        ],
        # Rebuilding FCC from YouTube (fcc-build): the faces as above, yt-dlp, and the ffmpeg
        # binary in a wheel.
        "fcc": [
            "spl_tf[makeup]",
            # No upper bound: YouTube changes often and only a current yt-dlp keeps up.
            "yt-dlp>=2025.1",
            "imageio-ffmpeg>=0.6,<0.9",
        ],
        "jax": ["jax[cpu]>=0.6"],
        # The documentation site (mkdocs.yml, docs/): `make docs`, and tests/test_docs.py in
        # `make test`. The floors are the oldest versions it was built with, warnings as errors.
        "docs": ["mkdocs>=1.6,<2", "mkdocs-material>=9.6,<10", "mkdocstrings>=1.0,<2",
                 "mkdocstrings-python>=2.0,<3", "pymdown-extensions>=10.2,<11"],
        "test": ["pytest>=8,<10", "pytest-xdist>=3.6.1,<4",
                 # tests/test_notebook.py runs notebooks/spl_tf_colab.ipynb in a kernel.
                 "nbclient>=0.10,<0.12", "nbformat>=5.10,<6", "ipykernel>=6.29,<8",
                 # tests/test_package.py builds the wheel and the sdist offline (no build
                 # isolation: the backend pyproject.toml names must be here) and checks them.
                 "build>=1.2,<2", "twine>=5,<8", "setuptools>=70.1"],
    },
    entry_points={
        "console_scripts": [
            "spl-pix2pix-train = applications.pix2pix.train:entry_point",
            "spl-pix2pix-predict = applications.pix2pix.predict:entry_point",
            "spl-pix2pix-demo = applications.pix2pix.demo:entry_point",
            "spl-srresnet-train = applications.srresnet.train:entry_point",
            "spl-srresnet-predict = applications.srresnet.predict:entry_point",
            "spl-data = applications.datasets.command:entry_point",
            "spl-eval = applications.evaluation.command:entry_point",
            "spl-experiment = applications.experiments.command:entry_point",
            "spl-makeup-train = applications.makeup.train:entry_point",
            "spl-makeup-predict = applications.makeup.predict:entry_point",
            "spl-makeup-transfer = applications.makeup.transfer:entry_point",
            "fcc-build = fcc_dataset.build:entry_point",
            "fcc-pairs = fcc_dataset.pairs:entry_point",
        ],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Keras",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Image Processing",
    ],
)
