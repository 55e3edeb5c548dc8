"""The tour notebook, executed by nbclient as a user's "Run all" would, outputs checked."""

from __future__ import annotations

from pathlib import Path

import nbclient
import nbformat

from ..backends import require_unix_port
from .jupyter_env import async_kernel_manager, prepare

TOUR = Path(__file__).parents[2] / "examples" / "tour.ipynb"


def outputs_of(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
        elif output.output_type == "error":
            parts.append("\n".join(output.traceback))
    return "".join(parts)


def test_tour_runs_clean_on_sim(tmp_path: Path) -> None:
    require_unix_port()
    prepare()
    notebook = nbformat.read(TOUR, as_version=4)
    nbclient.NotebookClient(notebook, km=async_kernel_manager(), timeout=60).execute(
        cwd=str(TOUR.parent)
    )
    cells: dict[str, nbformat.NotebookNode] = {}
    for cell in notebook.cells:  # the first cell of each first line
        if cell.cell_type == "code":
            cells.setdefault(cell.source.split("\n")[0], cell)
    assert "%connect" in outputs_of(cells["%lsmagic"])
    assert outputs_of(cells["%discover"]).startswith("sim")
    assert outputs_of(cells["%connect sim"]).startswith("Connected to sim @ unix://")
    everywhere = outputs_of(cells["%%connect --all --host"])
    assert "----- HOST" in everywhere and "----- sim" in everywhere
    assert "(cpython)" in everywhere and "(micropython)" in everywhere
    assert outputs_of(cells["import sys"]).strip() == "micropython linux"
    assert "platform" in outputs_of(cells["%info"])
    assert outputs_of(cells["import time"]).split("\n")[:5] == [f"tick {i}" for i in range(5)]
    value = cells["x = 6"]
    assert value.outputs[0].output_type == "execute_result"
    assert value.outputs[0].data["text/plain"] == "42"
    error = outputs_of(cells["def ratio(a, b):"])
    assert "ZeroDivisionError" in error and "line 4" in error and "line 2" in error
    assert "!!!!!   softreset ...     !!!!!" in outputs_of(cells["a = 5"])
    assert outputs_of(cells["a = 5"]).rstrip().endswith("False")
    assert "greeting.py" in outputs_of(cells["%rdiff"]) or "match" in outputs_of(cells["%rdiff"])
    assert outputs_of(cells["import greeting"]) == "'hello, tour, from the board'"
    assert "greeting.py" in outputs_of(cells["%rlist /lib"])
    assert "blink" in outputs_of(cells["%cat :blink/main.py"])
    assert "mounted at /remote" in outputs_of(cells["%mount scratch"])
    assert outputs_of(cells["import stats"]) == "21.333333333333332"
    whos = outputs_of(cells["%whos"]).splitlines()
    assert whos[0].split() == ["Variable", "Type", "Data/Info"]
    assert ["readings", "list", "n=20"] in [line.split() for line in whos]
    assert outputs_of(cells["%meminfo"]).startswith("heap:")
    assert "unmounted" in outputs_of(cells["%umount"])
    assert outputs_of(cells["%run scratch/report.py 3"]).splitlines()[-1] == "report line 3 of 3"
    assert outputs_of(cells["%df"]).startswith("mount")
    assert "greeting.py" in outputs_of(cells["%tree /lib"])
    [store] = [c for c in notebook.cells if "%store readings" in c.source]
    assert "Stored readings" in outputs_of(store)
    [plot] = [c for c in notebook.cells if "plt.plot(readings" in c.source]
    assert any("image/png" in o.get("data", {}) for o in plot.outputs)
    assert outputs_of(cells["%%bash"]).startswith("host: Linux\n")
    assert "Installed sensors" in outputs_of(cells["%mip install sensors --index $index_url"])
    assert outputs_of(cells["import sensors"]) == "21.5"
    [platform_cell] = [c for c in notebook.cells if "python_implementation" in c.source]
    assert outputs_of(platform_cell) == "'CPython'"
    assert "usage: %connect" in outputs_of(cells["%connect -h"])
