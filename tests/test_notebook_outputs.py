"""notebooks/spl_tf_colab.ipynb is stored with the outputs of a run on the built-in demo
data (notebooks/refresh_outputs.py), so it shows its pictures where it is read; its code
cells may not change without the outputs being made again. (tests/test_notebook.py runs
the notebook itself.)"""

import base64
import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "notebooks" / "refresh_outputs.py"
REFRESH = "run `python notebooks/refresh_outputs.py` (see its docstring) and commit the notebook"
PNG = b"\x89PNG\r\n\x1a\n"


def refresh_module():
    spec = importlib.util.spec_from_file_location("refresh_outputs", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_outputs_are_those_of_the_code_as_it_is():
    refresh = refresh_module()
    nb = json.loads(refresh.NOTEBOOK.read_text())
    stored = nb["metadata"].get(refresh.METADATA_KEY)
    assert stored, f"the notebook holds no outputs of a run: {REFRESH}"
    assert stored["code_sha256"] == refresh.code_hash(nb), (
        f"the notebook's code cells changed since its outputs were made: {REFRESH}")
    assert stored["parameters"]["DATA"] == "demo"


def test_the_stored_outputs_show_the_results():
    refresh = refresh_module()
    nb = json.loads(refresh.NOTEBOOK.read_text())
    by_tag = {tag: cell for cell in nb["cells"] for tag in cell["metadata"].get("tags", [])}
    errors = [cell["metadata"].get("tags") for cell in nb["cells"]
              for output in cell.get("outputs", []) if output["output_type"] == "error"]
    assert errors == []
    for tag in ("grid", "loss-curve"):
        pngs = [base64.b64decode(output["data"]["image/png"])
                for output in by_tag[tag].get("outputs", []) if "image/png" in output.get("data", {})]
        assert pngs and all(png.startswith(PNG) for png in pngs), f"no picture in {tag}: {REFRESH}"
    for tag in ("source", "train", "predict", "user-model"):  # what they printed
        assert by_tag[tag].get("outputs"), f"no output in {tag}: {REFRESH}"
