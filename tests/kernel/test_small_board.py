"""A notebook on an ESP8266-class board: real firmware with a 40 KB heap (the
QEMU board), through a real Jupyter client. Everything a user does works
there: %rsync of the example project, %mip, %store, completion, 100 KB files
up and down, soft and hard reset, and the stop button."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..backends import require_qemu
from .test_kernel import Kernel
from .test_packages import index  # noqa: F401 - the package index fixture

EXAMPLE = Path(__file__).parents[2] / "examples" / "project"
UID = "51454d5500000040"


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Kernel, Path]]:
    """A kernel connected to a 40 KB QEMU board named `small` in the
    example project's configuration, with its reset line as hard-reset."""
    from fakes.qemu_board import QemuBoard

    require_qemu("qemu")
    root = tmp_path_factory.mktemp("small")
    project = root / "project"
    shutil.copytree(EXAMPLE, project)
    with QemuBoard(root / "ttySmall", firmware="qemu", uid=bytes.fromhex(UID)) as board:
        reset = f"{sys.executable} -m fakes.qemu_board --reset {board.path}"
        entry = (project / "devices" / "sim.yaml").read_text()
        entry = entry.replace("sim:\n", f"small:\n  uid: {UID}\n  hard-reset: {reset}\n")
        (project / "devices" / "sim.yaml").write_text(entry)
        k = Kernel(env={"IOT_PROJECTS": str(project), "IOT_DEVICES": str(project / "devices")})
        try:
            run = k.run(f"%connect {board.url}")
            assert run.status == "ok", run.reply
            assert k.run(f"%cd {root}", silent=True).status == "ok"
            yield k, root
        finally:
            k.stop()


def result(run: Any) -> str:
    return str(run.of_type("execute_result")[0]["data"]["text/plain"])


def test_rsync_of_the_example_project(small: tuple[Kernel, Path]) -> None:
    k, _ = small
    run = k.run("%rsync")
    assert run.status == "ok", run.reply
    assert "ADD" in run.stream()
    assert k.run("%rdiff").stream() == "Directories match\n"
    assert result(k.run("import greeting\ngreeting.hello('tour')")) == (
        "'hello, tour, from the board'"
    )


def test_large_files_up_and_down(small: tuple[Kernel, Path]) -> None:
    k, root = small
    data = os.urandom(100 * 1024)
    (root / "big.bin").write_bytes(data)
    run = k.run(f"%cp {root}/big.bin :big.bin", timeout=120)
    assert run.status == "ok", run.reply
    assert "102400" in k.run("%rlist").stream()
    run = k.run(f"%cp :big.bin {root}/back.bin", timeout=120)
    assert run.status == "ok", run.reply
    assert (root / "back.bin").read_bytes() == data
    assert k.run("%rm :big.bin").status == "ok"


def test_mip_install(small: tuple[Kernel, Path], index: str) -> None:  # noqa: F811
    k, _ = small
    run = k.run(f"%mip install greet --index {index}", timeout=60)
    assert run.status == "ok", run.reply
    assert result(k.run("import greet\ngreet.MSG")) == "'hi there'"


def test_store_and_completion(small: tuple[Kernel, Path]) -> None:
    k, _ = small
    k.run("readings = [1.5, 2.5, 3.0]\nimport machine")
    assert k.run("%store readings").status == "ok"
    assert result(k.run("%%host\nsum(readings)")) == "7.0"
    k.run("del readings")
    assert k.run("%store -r readings").status == "ok"
    assert result(k.run("readings[2]")) == "3.0"
    reply = k.kc.complete("machine.", 8, reply=True)["content"]
    assert "machine.unique_id" in reply["matches"]


def test_stop_soft_and_hard_reset(small: tuple[Kernel, Path]) -> None:
    k, _ = small
    interrupted: list[float] = []

    def stop_when_running(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and not interrupted:
            interrupted.append(time.monotonic())
            threading.Thread(target=k.km.interrupt_kernel).start()

    run = k.run("print('go')\nwhile True: pass", timeout=30, on_message=stop_when_running)
    assert run.reply["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - interrupted[0] < 2.2
    k.run("kept = 1")
    assert k.run("%softreset").status == "ok"
    assert k.run("kept").reply["ename"] == "NameError"
    k.run("kept = 2")
    run = k.run("%hardreset -q", timeout=60)
    assert run.status == "ok", run.reply
    assert k.run("kept").reply["ename"] == "NameError"
    assert result(k.run("__import__('machine').unique_id().hex()")) == f"'{UID}'"
