"""Run notebooks/spl_tf_colab.ipynb on the built-in demo data and store its outputs in it.

    python notebooks/refresh_outputs.py          # a few minutes on 2 CPU cores

The notebook is stored with the outputs of that run, so that it shows its pictures (the
result grid, the loss curve) where it is read, on GitHub or in Colab before running. The
cells are stored as written (the Colab defaults); the run's own settings, those of
`PARAMETERS`, go in a cell injected after the parameters cell, as papermill does, which is
left out of the stored notebook and recorded in its metadata instead, with a hash of the
code cells: `tests/test_notebook_outputs.py` fails when the code changes and the outputs
are not refreshed.

The kernel is this interpreter, which must import spl_tf from this checkout (so the
notebook's install cell finds it and installs nothing): run it from a virtual environment
where spl_tf is this checkout, e.g. `make install` then `.venv/bin/python
notebooks/refresh_outputs.py`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "spl_tf_colab.ipynb"
METADATA_KEY = "spl_tf_outputs"
# The stored run: the built-in demo data on the CPU, at the demo's size and width.
PARAMETERS = {"RUNTIME": "cpu", "DATA": "demo", "IMAGE_SIZE": 64, "NGF": 16, "BATCH_SIZE": 8,
              "EPOCHS": 8, "JIT_COMPILE": "false", "TENSORBOARD_PORT": 0,
              "STOP_TENSORBOARD": True}
# Outputs that mean nothing once the kernel is gone: TensorBoard's inline frame (a server on
# this machine's localhost).
DROPPED_OUTPUTS = ("tensorboard",)
CELL_TIMEOUT_S = 900
# Lines of this machine's TensorFlow and absl logs (start-up, SavedModel export), which the
# stored outputs leave out: "WARNING: All log messages before absl::InitializeLog() ...",
# "I0000 00:00:1796603413.746834   20898 cudart_stub.cc:31] ...".
LOG_LINE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\).*"
                      r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w.]+:\d+\] .*)\n?", re.M)


def code_hash(nb: dict) -> str:
    """sha256 of the notebook's code cells, in order: what the stored outputs come from."""
    sources = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            source = cell["source"]
            sources.append(source if isinstance(source, str) else "".join(source))
    return hashlib.sha256(json.dumps(sources).encode()).hexdigest()


def without_logs(outputs: list) -> list:
    """The outputs without the log lines of LOG_LINE (and streams left empty)."""
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream":
            text = output["text"] if isinstance(output["text"], str) else "".join(output["text"])
            text = LOG_LINE.sub("", text)
            if not text:
                continue
            output["text"] = text
        kept.append(output)
    return kept


def main() -> None:
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    import spl_tf

    if not Path(spl_tf.__file__).resolve().is_relative_to(ROOT):
        sys.exit(f"error: this interpreter imports spl_tf from {spl_tf.__file__}, not from "
                 f"{ROOT}; run it from a venv where spl_tf is this checkout")
    original = nbformat.read(NOTEBOOK, as_version=4)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    (source_cell,) = [c for c in nb.cells if "source" in c.metadata.get("tags", [])]
    source_cell.source = re.sub(r"^SOURCE = .*$", f"SOURCE = {str(ROOT)!r}",
                                source_cell.source, count=1, flags=re.M)
    (parameters_cell,) = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    injected = nbformat.v4.new_code_cell(
        "\n".join(f"{name} = {value!r}" for name, value in PARAMETERS.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(nb.cells.index(parameters_cell) + 1, injected)

    with tempfile.TemporaryDirectory(prefix="spl_tf_notebook_") as tmp:
        kernels = Path(tmp, "kernels", "spl_tf_refresh")
        kernels.mkdir(parents=True)
        (kernels / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "spl_tf", "language": "python"}))
        work = Path(tmp, "work")
        work.mkdir()
        env = {k: v for k, v in os.environ.items()
               if k not in ("KERAS_BACKEND", "XLA_FLAGS", "JAX_PLATFORMS")}
        env.update(TMPDIR=tmp, TF_CPP_MIN_LOG_LEVEL="3", JUPYTER_PLATFORM_DIRS="1",
                   PYDEVD_DISABLE_FILE_VALIDATION="1")
        km = KernelManager(kernel_name="spl_tf_refresh", kernel_spec_manager=KernelSpecManager(
            kernel_dirs=[str(kernels.parent)]))
        NotebookClient(nb, km=km, timeout=CELL_TIMEOUT_S, kernel_name="spl_tf_refresh",
                       resources={"metadata": {"path": str(work)}}).execute(env=env)

    # The cells as written, with the outputs of the run.
    executed = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for stored, ran in zip(original.cells, executed, strict=True):
        if stored.cell_type != "code":
            continue
        tags = ran.metadata.get("tags", [])
        stored.outputs = [] if any(t in DROPPED_OUTPUTS for t in tags) else without_logs(ran.outputs)
        stored.execution_count = ran.execution_count
    original.metadata[METADATA_KEY] = {
        "code_sha256": code_hash(original),
        "parameters": PARAMETERS,
        "note": ("outputs of notebooks/refresh_outputs.py: the built-in demo data on a CPU; "
                 "TensorFlow's and absl's log lines left out"),
    }
    nbformat.write(original, NOTEBOOK)
    print(f"{NOTEBOOK}: outputs stored ({NOTEBOOK.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
