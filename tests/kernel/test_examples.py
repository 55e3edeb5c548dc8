"""The example notebooks run clean under nbclient (as in "Run all")."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat

from ..backends import require_unix_port
from .jupyter_env import async_kernel_manager, prepare
from .test_tour import outputs_of

EXAMPLES = Path(__file__).parents[2] / "examples"


def run(name: str, cwd: Path) -> nbformat.NotebookNode:
    require_unix_port()
    prepare()
    notebook = nbformat.read(EXAMPLES / name, as_version=4)
    nbclient.NotebookClient(notebook, km=async_kernel_manager(), timeout=60).execute(cwd=str(cwd))
    return notebook


def test_sensor_logging(tmp_path: Path) -> None:
    notebook = run("sensor-logging.ipynb", tmp_path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert "sample 0" in outputs_of(code[1]) and outputs_of(code[1]).endswith("40")
    assert any("image/png" in o.get("data", {}) for o in code[3].outputs)
    assert (tmp_path / "readings.csv").read_text().count("\n") == 40


def test_multi_board(tmp_path: Path) -> None:
    notebook = run("multi-board.ipynb", tmp_path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    listing = outputs_of(code[1])
    assert "fake://rig-a?uid=0a01" in listing and "[0b02]" in listing
    everywhere = outputs_of(code[2])
    for header in ("----- HOST", "----- sim", "----- 0a01", "----- 0b02"):
        assert header in everywhere
    assert everywhere.split("----- 0a01\n", 1)[1].startswith("MicroChip SAMD51 circuitpython")
    assert "b'\\x0b\\x02'" in outputs_of(code[3])


def test_live_plot(tmp_path: Path) -> None:
    notebook = run("live-plot.ipynb", tmp_path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    climate = code[1]
    assert outputs_of(climate).startswith("logging 60 samples\n")
    assert any("image/png" in o.get("data", {}) for o in climate.outputs)
    assert (tmp_path / "climate.png").read_bytes().startswith(b"\x89PNG")
    summary = outputs_of(code[3]).splitlines()
    assert summary[0].startswith("60 samples; the last:") and "'t': 2.95" in summary[0]
    assert summary[1] == "44"
