"""%autosync through the kernel on every kind of board: off by default, on
syncs at once and then before each cell's board code (what changed shown,
nothing shown when nothing did), a failed sync fails the cell before stale
code runs, and off stops it."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..backends import Backend
from .test_kernel import Kernel

pytestmark = pytest.mark.backends("fake", "circuitpython", "unix", "vserial", "pico", "qemu-small")


def configure(k: Kernel, tmp_path: Path, url: str) -> Path:
    project = tmp_path / "project"
    (project / "lib").mkdir(parents=True)
    (project / "lib" / "amod.py").write_text("VALUE = 1\n")
    (project / "devices").mkdir()
    (project / "devices" / "board.yaml").write_text(
        f"board:\n  urls: [{url!r}]\n  resources:\n    - path: lib\n"
        "      install-dir: /amods\n      unpack: true\n"
    )
    run = k.run(f"%%host\nimport os\nos.environ['IOT_PROJECTS'] = {str(project)!r}")
    assert run.status == "ok", run.reply
    k.run("%rm -r -f :amods")
    return project


def board_value(k: Kernel) -> str:
    run = k.run("print(open('/amods/amod.py').read().strip())")
    assert run.status == "ok", run.reply
    return run.stream()


def test_autosync_sends_what_changed_before_each_cell(
    board_kernel: Kernel, backend: Backend, tmp_path: Path
) -> None:
    k = board_kernel
    project = configure(k, tmp_path, backend.url)
    assert k.run("%autosync status").stream() == "autosync is off\n"
    run = k.run("%autosync on")
    assert run.status == "ok", run.reply
    assert "autosync: \x1b[32mADD   \x1b[0m /amods/amod.py" in run.stream()
    assert "autosync is on for" in run.stream()

    assert board_value(k) == "VALUE = 1\n"  # nothing changed: nothing said
    (project / "lib" / "amod.py").write_text("VALUE = 2\n")
    (project / "lib" / "bmod.py").write_text("B = 1\n")
    run = k.run("print(open('/amods/amod.py').read().strip())")
    out = run.stream()
    assert "autosync: \x1b[34mUPDATE\x1b[0m /amods/amod.py" in out
    assert "autosync: \x1b[32mADD   \x1b[0m /amods/bmod.py" in out
    assert out.endswith("VALUE = 2\n")  # synced before the code ran

    # Host magics alone do not touch the board.
    (project / "lib" / "bmod.py").unlink()
    assert "autosync" not in k.run("%%host\nprint('host only')").stream()
    assert "DELETE" in k.run("x = 1").stream()  # mirrors, as %rsync does
    status = k.run("%autosync status").stream()
    assert status.startswith("autosync is on:") and "files changed" in status

    assert k.run("%autosync off").stream() == "autosync is off\n"
    (project / "lib" / "amod.py").write_text("VALUE = 3\n")
    assert board_value(k) == "VALUE = 2\n"


def test_a_failed_sync_fails_the_cell_before_its_code_runs(
    board_kernel: Kernel, backend: Backend, tmp_path: Path
) -> None:
    k = board_kernel
    project = configure(k, tmp_path, backend.url)
    assert k.run("%autosync on --mpy").status == "ok"
    (project / "lib" / "amod.py").write_text("def (:\n")
    run = k.run("print('must not run')")
    assert run.status == "error"
    assert run.reply["ename"] == "MpyError"
    assert "autosync: /amods/amod.py does not compile" in run.reply["evalue"]
    assert "must not run" not in run.stream()
    assert k.run("%autosync off").status == "ok"
    assert "must run" in k.run("print('must run')").stream()


@pytest.mark.backends("fake")
def test_autosync_on_a_board_without_configuration_is_refused(tmp_path: Path) -> None:
    k = Kernel()
    try:
        assert k.run(f"%connect fake://noconf-{tmp_path.name}").status == "ok"
        k.run(f"%%host\nimport os\nos.environ['IOT_PROJECTS'] = {str(tmp_path / 'no')!r}")
        run = k.run("%autosync on")
        assert run.status == "error" and "no configuration for this board" in run.reply["evalue"]
        assert k.run("%autosync status").stream() == "autosync is off\n"
    finally:
        k.stop()
