"""%rsync --mpy and `mpy: true` through the kernel on every kind of board:
sources go up compiled for the board's bytecode, %rdiff pairs foo.py with
foo.mpy, the board imports them and tracebacks name the source's lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..backends import Backend
from .test_kernel import Kernel

pytestmark = pytest.mark.backends("fake", "circuitpython", "unix", "vserial", "pico", "qemu-small")

MODULE = "def area(w, h):\n    return w * h\n\n\ndef fail():\n    raise ValueError('from line 6')\n"


def configure(k: Kernel, tmp_path: Path, url: str, *, mpy_key: bool) -> Path:
    project = tmp_path / "project"
    (project / "lib").mkdir(parents=True)
    (project / "lib" / "cmod.py").write_text(MODULE)
    (project / "lib" / "main.py").write_text("print('stays source')\n")
    (project / "devices").mkdir()
    flag = "\n      mpy: true" if mpy_key else ""
    (project / "devices" / "board.yaml").write_text(
        f"board:\n  urls: [{url!r}]\n  resources:\n    - path: lib\n"
        f"      install-dir: /cmods\n      unpack: true{flag}\n"
    )
    run = k.run(f"%%host\nimport os\nos.environ['IOT_PROJECTS'] = {str(project)!r}")
    assert run.status == "ok", run.reply
    k.run("%rm -r -f :cmods")
    return project


def test_rsync_mpy_sends_compiled_modules_the_board_imports(
    board_kernel: Kernel, backend: Backend, tmp_path: Path
) -> None:
    k = board_kernel
    project = configure(k, tmp_path, backend.url, mpy_key=False)
    diff = k.run("%rdiff --mpy").stream()
    assert "/cmods/cmod.mpy (compiled from cmod.py)" in diff
    assert "/cmods/main.py\n" in diff  # run by name: stays source
    run = k.run("%rsync --mpy")
    assert run.status == "ok", run.reply
    assert "ADD" in run.stream() and "cmod.mpy" in run.stream()
    assert k.run("%rdiff --mpy").stream() == "Directories match\n"
    listing = k.run("%rlist /cmods").stream()
    assert "cmod.mpy" in listing and "cmod.py" not in listing

    (project / "lib" / "cmod.py").write_text(MODULE.replace("w * h", "w * h + 1"))
    assert "\x1b[34mUPDATE\x1b[0m /cmods/cmod.mpy" in k.run("%rdiff --mpy").stream()
    assert k.run("%rsync --mpy").status == "ok"
    if not backend.runs_bytecode:
        return
    run = k.run(
        "import sys\nsys.path.insert(0, '/cmods')\nimport cmod\nprint(cmod.area(6, 7))\ncmod.fail()"
    )
    assert "43" in run.stream()
    assert run.status == "error"
    assert 'File "/cmods/cmod.py", line 6' in run.stream("stderr") + str(run.reply)
    k.run("del sys.modules['cmod']; sys.path.remove('/cmods')")


def test_mpy_true_in_the_configuration_compiles_without_the_flag(
    board_kernel: Kernel, backend: Backend, tmp_path: Path
) -> None:
    k = board_kernel
    configure(k, tmp_path, backend.url, mpy_key=True)
    assert "/cmods/cmod.mpy (compiled from cmod.py)" in k.run("%rsync").stream()
    assert k.run("%rdiff").stream() == "Directories match\n"


@pytest.mark.backends("fake")
def test_a_board_without_mpy_support_gets_one_clear_error(tmp_path: Path) -> None:
    k = Kernel()
    try:
        url = f"fake://nompy-{tmp_path.name}?mpy=none"
        assert k.run(f"%connect {url}").status == "ok"
        configure(k, tmp_path, url, mpy_key=False)
        run = k.run("%rsync --mpy")
        assert run.status == "error"
        assert run.reply["ename"] == "MpyError"
        assert "imports no .mpy files" in run.reply["evalue"]
        assert k.run("%rsync").status == "ok"  # without compiling it syncs as before
    finally:
        k.stop()
