"""Devices through the kernel: %discover, names, %connect by name and scheme,
one board on two transports shown once, %%connect --all, reconnect by identity."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes.vboard import VirtualSerialBoardProcess
from fakes.webrepl_bridge import WebReplBridge

from ..backends import require_unix_port
from .jupyter_env import free_udp_port
from .test_kernel import Kernel

PASSWORD = "rig12345"


@dataclass
class Rig:
    kernel: Kernel
    boards: list[VirtualSerialBoardProcess]
    bridge: WebReplBridge
    advert_port: int


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    require_unix_port()
    boards = [
        VirtualSerialBoardProcess(
            tmp_path / f"ttyRIG{i}", board_dir=tmp_path / f"files{i}", uid=bytes([0xA0, i])
        )
        for i in range(3)
    ]
    # Board alpha is also on WiFi: the same uid behind a WebREPL bridge.
    bridge = WebReplBridge(password=PASSWORD, board_dir=tmp_path / "wifi", uid=b"\xa0\x00")
    bridge.start()
    port = free_udp_port()
    projects = tmp_path / "projects"
    (projects / "devices").mkdir(parents=True)
    (projects / "devices" / "rig.yaml").write_text("alpha:\n  uid: a000\nbeta:\n  uid: a001\n")
    settings = tmp_path / "iotkernel.yaml"
    settings.write_text(
        f"extra-ports: ['{tmp_path}/ttyRIG*']\nadvert-bind: 127.0.0.1\nadvert-port: {port}\n"
    )
    secrets = tmp_path / "secrets.yaml"
    # By the device's name: an advertised host never gets the `default`.
    secrets.write_text(f"webrepl:\n  alpha: {PASSWORD}\n")
    secrets.chmod(0o600)
    kernel = Kernel(
        env={
            "IOT_PROJECTS": str(projects),
            "IOT_SETTINGS": str(settings),
            "IOT_SECRETS": str(secrets),
            "XDG_DATA_HOME": str(tmp_path / "xdg"),  # known hosts of this rig only
        }
    )
    try:
        yield Rig(kernel, boards, bridge, port)
    finally:
        kernel.stop()
        bridge.stop()
        for board in boards:
            board.stop()


def advertise(rig: Rig) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(f"{rig.bridge.url}\na000".encode(), ("127.0.0.1", rig.advert_port))


def test_discover_lists_each_board_once_by_name(rig: Rig) -> None:
    advertise(rig)
    lines = rig.kernel.run("%discover -v").stream().strip().split("\n")
    assert len(lines) == 4, lines  # three boards and the built-in `sim`
    assert lines[0].startswith("sim") and "unix://" in lines[0]
    alpha = next(line for line in lines if line.startswith("alpha"))
    assert "serial://" in alpha and rig.bridge.url in alpha and "[a000]" in alpha
    assert any(line.startswith("beta") for line in lines)
    assert any(line.startswith("a002") for line in lines)  # unknown board: its uid
    all_ports = rig.kernel.run("%discover -a").stream()
    assert str(rig.boards[0].path) in all_ports


def test_connect_by_name_uid_and_scheme(rig: Rig) -> None:
    advertise(rig)
    run = rig.kernel.run("%connect beta")
    assert run.status == "ok", run.reply
    assert run.stream().startswith(f"Connected to beta @ serial://{rig.boards[1].path}")
    assert rig.kernel.run("%uid").stream().strip() == "a001"
    run = rig.kernel.run("%connect alpha ws")
    assert run.status == "ok", run.reply
    assert f"Connected to alpha @ {rig.bridge.url}" in run.stream()
    assert "trusted from now on" in run.stream("stderr")  # first use of an advertised host
    assert rig.kernel.run("%connect a002").stream().startswith("Connected to a002 @ serial://")
    bad = rig.kernel.run("%connect gamma")
    assert bad.status == "error" and "gamma" in bad.reply["evalue"]


def test_connect_all_runs_everywhere_and_reports_one_failure(rig: Rig) -> None:
    body = (
        "%%connect --all --host\n"
        "import sys\n"
        "print('platform', sys.platform)\n"
        "if sys.implementation.name == 'micropython':\n"
        "    import machine\n"
        "    assert machine.unique_id() != b'\\xa0\\x01', 'beta fails on purpose'"
    )
    run = rig.kernel.run(body, timeout=60)
    out = run.stream()
    for header in ("----- HOST", "----- sim", "----- alpha", "----- beta", "----- a002"):
        assert header in out
    assert out.count("platform linux") == 5  # host, sim and three boards
    # In the order produced: the host's print under its own header, first.
    assert out.split("----- HOST\n", 1)[1].startswith("platform linux\n"), out
    assert run.status == "error"
    assert next(e["ename"] for e in run.of_type("error")) == "AssertionError"


def test_reconnect_by_identity_after_unplug(rig: Rig) -> None:
    assert rig.kernel.run("%connect beta").status == "ok"
    rig.kernel.run("kept = 7")
    threading.Timer(0.2, rig.boards[1].unplug).start()
    failed = rig.kernel.run("import time\ntime.sleep(5)")
    assert failed.status == "error"
    rig.boards[1].plug()
    run = rig.kernel.run("print('back')", timeout=30)
    assert run.status == "ok", run.reply
    assert "Reconnected to beta" in run.stream() and "back" in run.stream()


def test_connect_wait_for_a_board_to_appear(rig: Rig) -> None:
    rig.boards[2].unplug()
    threading.Timer(1.0, rig.boards[2].plug).start()
    run = rig.kernel.run("%connect a002 --wait 10", timeout=30)
    assert run.status == "ok", run.reply
    assert "Connected to a002" in run.stream()
    missing = rig.kernel.run("%connect nosuch --wait 1", timeout=30)
    assert missing.status == "error" and "nosuch" in missing.reply["evalue"]
