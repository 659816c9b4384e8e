"""notebooks/spl_tf_colab.ipynb, executed as a user's Colab runs it, but on this CPU, offline
and tiny: once on the CPU/TensorFlow path (the facades download fails, so the demo data is the
fallback) and once on the TPU path (JAX, --strategy=data_parallel on 2 simulated devices, the
"facades" archive served from a local folder, through spl-data's mirror override). The two
kernels run side by side. (The download and unpacking under `spl-data fetch`, which the notebook
calls, are tested in spl_tf_tests/test_downloads.py, test_archives.py and test_spl_data.py.)
"""

import asyncio
import base64
import datetime
import io
import json
import math
import os
import re
import socket
import sys
import tarfile
import time
from pathlib import Path

import cv2
import nbformat
import numpy as np
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from backend_utils import jax_env

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "spl_tf_colab.ipynb"
KERNEL = "spl_tf_test"
CELL_TIMEOUT_S = 300  # one cell; the kernel itself must start within STARTUP_TIMEOUT_S
STARTUP_TIMEOUT_S = 60
TINY = {"IMAGE_SIZE": 32, "NGF": 4, "NUM_BLOCKS": 1, "EPOCHS": 1, "BATCH_SIZE": 2,
        "STEPS_PER_EPOCH": 1, "USER_MODEL_STEPS": 1, "USER_MODEL_EPOCHS": 1, "TENSORBOARD_PORT": 0,
        "STOP_TENSORBOARD": True}
FALLBACK = "using the built-in demo data instead"
FACADES_TEST_IMAGES = 3


def _cells(nb, tag: str) -> list:
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def _prepared(source: Path, parameters: dict) -> nbformat.NotebookNode:
    """The notebook with SOURCE pointing at this checkout and the parameters injected after
    the cell tagged "parameters", as papermill does."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (first,) = _cells(nb, "source")
    assert [c for c in nb.cells if c.cell_type == "code"][0] is first, "the first code cell"
    first.source, replaced = re.subn(r"^SOURCE = .*$", f"SOURCE = {str(source)!r}", first.source,
                                     flags=re.M)
    assert replaced == 1
    (cell,) = _cells(nb, "parameters")
    for name in parameters:
        assert re.search(rf"^{name} = ", cell.source, re.M), f"no parameter {name}"
    injected = nbformat.v4.new_code_cell(
        "\n".join(f"{name} = {value!r}" for name, value in parameters.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(nb.cells.index(cell) + 1, injected)
    return nb


def _kernel_dir(folder: Path) -> Path:
    """A kernel spec that runs this Python (the test's venv), wherever Jupyter looks."""
    spec = folder / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "spl_tf tests", "language": "python"}))
    return folder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _facades_archive(path: Path) -> Path:
    """A tiny archive in the facades layout: facades/{train,val,test}/N.jpg, [photo | labels]."""
    rng = np.random.default_rng(0)
    counts = {"train": 2, "val": 1, "test": FACADES_TEST_IMAGES}
    with tarfile.open(path, "w:gz") as tar:
        for split, count in counts.items():
            for i in range(count):
                pair = rng.integers(0, 255, (32, 64, 3), np.uint8)
                ok, data = cv2.imencode(".jpg", pair)
                assert ok
                member = tarfile.TarInfo(f"facades/{split}/{i + 1}.jpg")
                member.size = len(data)
                tar.addfile(member, io.BytesIO(data.tobytes()))
    return path


async def _execute(nb, cwd: Path, kernel_dirs: Path, tmp: Path,
                   extra_env: dict[str, str]) -> tuple[object, str | None]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KERAS_BACKEND", "XLA_FLAGS", "JAX_PLATFORMS", "TENSORBOARD_BINARY")}
    # Its own temporary folder: TensorBoard's info files (which servers run) are there, apart
    # from any other TensorBoard on this machine.
    env.update(TMPDIR=str(tmp), TF_CPP_MIN_LOG_LEVEL="3", JUPYTER_PLATFORM_DIRS="1",
               PYDEVD_DISABLE_FILE_VALIDATION="1", **extra_env)
    km = AsyncKernelManager(kernel_name=KERNEL,
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dirs)]))
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, startup_timeout=STARTUP_TIMEOUT_S,
                            kernel_name=KERNEL, resources={"metadata": {"path": str(cwd)}})
    try:
        await client.async_execute(env=env)
        return nb, None
    except CellExecutionError as error:
        return nb, str(error)[-6000:]
    except Exception as error:  # the kernel did not start, a timeout, ...
        return nb, f"{type(error).__name__}: {error}"


def _text(nb) -> str:
    """Everything the notebook printed or displayed as text."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output:
                parts.append(output.data.get("text/plain", ""))
            elif output.output_type == "error":
                parts.append("\n".join(output.traceback))
    return "".join(parts)


def _pngs(nb) -> list[bytes]:
    return [base64.b64decode(output.data["image/png"]) for cell in nb.cells
            for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]


def _seconds(cell) -> float | None:
    timing = cell.metadata.get("execution", {})
    try:
        start, end = (datetime.datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                      for k in ("iopub.execute_input", "shell.execute_reply"))
    except KeyError:
        return None
    return round((end - start).total_seconds(), 1)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _tensorboard_pids(tmp: Path) -> list[int]:
    info = tmp / ".tensorboard-info"
    return [int(p.stem.split("-")[1]) for p in info.glob("pid-*.info")] if info.is_dir() else []


def _processes_on(folder: Path) -> list[int]:
    """Live processes whose command line names `folder`: whatever the notebooks started (the
    trainer, the predictor, TensorBoard and its data server all take paths inside it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Both cases, executed at once (about 100 s on a busy 2-core machine; `-s` prints the
    seconds of each cell): {case: (notebook, error, work dir, tmp dir, processes left)}."""
    base = tmp_path_factory.mktemp("notebook")
    kernels = _kernel_dir(base / "kernels")
    archive = _facades_archive(base / "facades.tar.gz")
    cases = {
        # No accelerator: TensorFlow; the facades server is unreachable (a closed local port).
        "cpu": {"RUNTIME": "cpu", "DATA": "facades", "JIT_COMPILE": "false",
                "DATA_MIRROR": f"http://127.0.0.1:{_free_port()}/"},
        # The TPU path on 2 simulated devices; the archive comes from a local folder.
        "tpu": {"RUNTIME": "tpu", "SIMULATE_TPU_DEVICES": 2, "DATA": "facades",
                "DATA_MIRROR": archive.parent.as_uri()},
    }
    # The JAX kernel and the commands it starts compile faster (the notebook keeps XLA_FLAGS
    # and adds its device count); its checks are of files and finite values only.
    extra_env = {"cpu": {}, "tpu": {"XLA_FLAGS": jax_env(legacy_emitters=True)["XLA_FLAGS"]}}
    jobs, folders = [], {}
    for case, parameters in cases.items():
        work, tmp = base / case / "work", base / case / "tmp"
        work.mkdir(parents=True)
        tmp.mkdir()
        folders[case] = (work, tmp)
        nb = _prepared(ROOT, {**TINY, **parameters, "WORK_DIR": str(work)})
        jobs.append(_execute(nb, work, kernels, tmp, extra_env[case]))

    async def both():
        return await asyncio.gather(*jobs)

    start = time.monotonic()
    try:
        results = asyncio.run(both())
    finally:
        # Nothing the notebooks started may outlive them, even when a cell failed: the
        # TensorBoard servers are the kernels' children, listed in their private info folders.
        leftovers = {case: sorted({p for p in _tensorboard_pids(tmp) if _alive(p)}
                                  | set(_processes_on(base / case)))
                     for case, (_, tmp) in folders.items()}
        for pids in leftovers.values():
            for pid in pids:
                os.kill(pid, 9)
    print(f"both notebooks ran in {time.monotonic() - start:.0f} s")
    for case, (nb, _) in zip(cases, results):
        nbformat.write(nb, base / case / "executed.ipynb")  # to read when a check fails
        print(case, "seconds per cell:", [(c.metadata.get("tags", ["?"])[0], _seconds(c))
                                          for c in nb.cells if c.cell_type == "code"])
    return {case: (nb, error, *folders[case], leftovers[case])
            for case, (nb, error) in zip(cases, results)}


def _check_run(nb, error, work: Path, leftover: list[int], test_images: int) -> tuple[str, Path]:
    """What both paths must show; returns the notebook's text and its run folder."""
    assert error is None, error
    text = _text(nb)
    assert f"spl_tf is installed from {ROOT}: nothing to install" in text

    # The trainer's files, one epoch of one step.
    (run,) = (work / "runs").iterdir()
    for produced in ("config.json", "model.keras", "export/saved_model.pb",
                     "checkpoints/epoch_001.keras", "samples/epoch_001.png", "loss.png"):
        assert (run / produced).is_file(), produced
    assert len((run / "training_log.csv").read_text().splitlines()) == 1 + TINY["EPOCHS"]
    model = json.loads((run / "config.json").read_text())["config"]["model"]
    assert (model["ngf"], model["num_blocks"]) == (TINY["NGF"], TINY["NUM_BLOCKS"])

    # The predict command's grid: input | output | target, one row per test image (at most
    # 8), each 32-pixel panel drawn one inch (100 pixels) wide, under a row of titles.
    grid_file = run / "predictions" / "test" / "grid.png"
    grid = cv2.imread(str(grid_file))
    rows = min(test_images, 8)
    assert grid is not None and grid.shape == (100 * rows + 30, 300, 3)
    shown = _pngs(nb)
    assert grid_file.read_bytes() in shown, "the notebook displays the grid"
    assert (run / "loss.png").read_bytes() in shown, "and the loss curve"
    metrics = json.loads((run / "predictions" / "test" / "metrics.json").read_text())
    assert metrics["images"] == test_images and math.isfinite(metrics["psnr"])

    # TensorBoard was started by the magic and shown inline, then stopped with the notebook.
    (tensorboard_cell,) = _cells(nb, "tensorboard")
    html = [o.data["text/html"] for o in tensorboard_cell.outputs if "text/html" in o.get("data", {})]
    assert html and "<iframe" in html[0], _text(nb)[-2000:]
    stopped = [int(pid) for pid in re.findall(r"stopped TensorBoard \(pid (\d+), port \d+\)", text)]
    assert stopped, text[-2000:]
    assert leftover == [], f"processes left running: {leftover}"
    assert not any(_alive(pid) for pid in stopped)

    # The user's own model, compiled with loss=spl_tf.SPL(): a finite loss, saved and reloaded.
    loss = float(re.search(r"my model: SPL loss (\S+) after", text)[1])
    assert math.isfinite(loss), loss
    assert "reloaded loss: SPL" in text
    return text, run


def _check_cpu(nb, error, work, tmp, leftover):
    """TensorFlow, and the demo data because the facades server cannot be reached."""
    text, run = _check_run(nb, error, work, leftover, test_images=24)
    assert "runtime: cpu; Keras backend: tensorflow; trainer: --strategy=default" in text
    fallback = [line for line in text.splitlines() if FALLBACK in line]
    assert len(fallback) == 1 and fallback[0].startswith(
        "Could not get the facades data (cannot download http://127.0.0.1:"), fallback
    assert not (work / "data" / "facades").exists() and not (work / "data" / ".downloads").exists()
    record = json.loads((run / "config.json").read_text())
    assert record["versions"]["backend"] == "tensorflow"
    assert record["config"]["runtime"]["strategy"] == "default"
    assert record["config"]["data"]["direction"] == "AtoB"  # the demo's sketch -> photo
    assert Path(record["config"]["data"]["data_dir"]).name == "demo_train2"
    assert "Keras 3" in text and ", backend: tensorflow" in text  # the kernel's model


def _check_tpu(nb, error, work, tmp, leftover):
    """JAX, --strategy=data_parallel over 2 simulated devices, the archive's facades."""
    text, run = _check_run(nb, error, work, leftover, test_images=FACADES_TEST_IMAGES)
    assert ("runtime: tpu; Keras backend: jax; trainer: --strategy=data_parallel; "
            "2 simulated TPU devices (JAX on the CPU)") in text
    assert FALLBACK not in text
    assert (work / "data" / "facades.sha256").is_file()  # spl-data's record of the download
    record = json.loads((run / "config.json").read_text())
    assert record["versions"]["backend"] == "jax"
    assert record["config"]["runtime"]["strategy"] == "data_parallel"
    assert record["config"]["data"]["direction"] == "BtoA"  # facades: labels -> photo
    # The first STEPS_PER_EPOCH * BATCH_SIZE training images.
    assert Path(record["config"]["data"]["data_dir"]).name == "facades_train2"
    assert "data parallel over 2 devices in 1 processes" in text  # the trainer's own log
    # The one image of val/ is no whole batch to split over the devices: the trainer says so.
    assert "no validation during training: fewer validation images than one batch" in text
    assert "backend: jax" in text and "JAX devices: 2 x cpu" in text  # the kernel's model


@pytest.mark.slow  # a long end-to-end run: make test-slow
def test_notebook_on_cpu_tensorflow_and_on_simulated_tpu(runs):
    # One test for both cases, so that pytest-xdist runs the two notebooks once, side by side.
    failed = {case: run[1] for case, run in runs.items() if run[1] is not None}
    assert not failed, "\n\n".join(f"[{case} path] {error}" for case, error in failed.items())
    _check_cpu(*runs["cpu"])
    _check_tpu(*runs["tpu"])
