"""hil/ on a labgrid board farm, proven on loopback.

Starts a labgrid coordinator on 127.0.0.1, an exporter that exports two
virtual serial boards through ser2net (the exporter runs ser2net for each
port), creates a place per board, and runs the hil suite through labgrid on
both boards in parallel (`pytest -n 2`, each worker locking its own place).
Each board has a switch on loopback (`fakes.power_switch`): the first place
offers it as a power port (labgrid's simplerest model), the second as a reset
line (an HttpDigitalOutput named `reset`), and hard resets go through both.
A second client taking a locked place fails clearly. Everything started here
is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakes.vboard import VirtualSerialBoardProcess
from iotkernel.device import Device
from iotkernel.errors import DeviceException
from iotkernel.labgrid import LabgridPlace, PlaceError, parse_show

from .backends import IN_CI, require_unix_port

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _requirements() -> None:
    missing = []
    if shutil.which("ser2net") is None and not os.path.exists("/usr/sbin/ser2net"):
        missing.append("ser2net (apt-get install ser2net)")
    if not (BIN / "labgrid-coordinator").exists():
        missing.append("labgrid (pip install '.[test]')")
    if os.geteuid() != 0:
        missing.append("root (labgrid exports serial ports under /dev only)")
    if missing:
        if IN_CI:
            pytest.fail("CI must run the labgrid rig test; missing: " + ", ".join(missing))
        pytest.skip("missing: " + ", ".join(missing))


def _lg(coordinator: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "labgrid-client"), "-x", coordinator, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    tmp_path = tmp_path_factory.mktemp("rig")
    _requirements()
    require_unix_port()
    env = {**os.environ, "PATH": f"{BIN}:/usr/sbin:{os.environ.get('PATH', '')}"}
    processes: list[subprocess.Popen[bytes]] = []
    boards: list[VirtualSerialBoardProcess] = []
    tag = f"{os.getpid()}"
    try:
        for i in range(2):
            boards.append(
                VirtualSerialBoardProcess(
                    Path(f"/dev/ttyIOTK{tag}x{i}"),
                    board_dir=tmp_path / f"board{i}",
                    uid=bytes([0xE0, i]),
                    power_switch=True,
                )
            )
        coordinator = f"127.0.0.1:{_free_port()}"
        log = (tmp_path / "coordinator.log").open("w")
        processes.append(
            subprocess.Popen(
                [str(BIN / "labgrid-coordinator"), "-l", coordinator],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                env=env,
            )
        )
        config = tmp_path / "exporter.yaml"
        config.write_text(
            f"""
board0:
  RawSerialPort: {{port: {boards[0].path}, speed: 115200}}
  NetworkPowerPort:
    model: simplerest
    host: '{boards[0].power_switch_url}/power/{{value}}'
    index: 0
board1:
  RawSerialPort: {{port: {boards[1].path}, speed: 115200}}
  reset:
    cls: HttpDigitalOutput
    url: '{boards[1].power_switch_url}/reset'
    body_asserted: '1'
    body_deasserted: '0'
"""
        )
        deadline = time.monotonic() + 20
        while _lg(coordinator, "places").returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the labgrid coordinator did not start")
            time.sleep(0.2)
        exporter = f"rig{tag}"
        processes.append(
            subprocess.Popen(
                [
                    str(BIN / "labgrid-exporter"),
                    "-c",
                    coordinator,
                    "-n",
                    exporter,
                    "--hostname",
                    "127.0.0.1",
                    str(config),
                ],
                stdout=(tmp_path / "exporter.log").open("w"),
                stderr=subprocess.STDOUT,
                cwd=tmp_path,
                env=env,
            )
        )
        while "board1" not in _lg(coordinator, "resources").stdout:
            if time.monotonic() > deadline:
                raise RuntimeError("the exporter did not register its boards")
            time.sleep(0.2)
        places = []
        for i in range(2):
            place = f"iotk{tag}p{i}"
            assert _lg(coordinator, "-p", place, "create").returncode == 0
            assert (
                _lg(coordinator, "-p", place, "add-match", f"{exporter}/board{i}/*").returncode == 0
            )
            places.append(place)
        yield coordinator, places
        for place in places:
            _lg(coordinator, "-p", place, "delete")
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for board in boards:
            board.stop()


@pytest.mark.timeout(600)
def test_hil_on_two_labgrid_places_in_parallel(rig: tuple[str, list[str]]) -> None:
    coordinator, places = rig
    workers = int(os.environ.get("IOTK_RIG_WORKERS", "2"))  # 1: the baseline timing
    start = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "hil/test_contract.py",
            "hil/test_hardware.py",
            # The exec contract and the hardware checks prove the places work
            # in parallel; the fault suite, and the exec contract's many
            # values and interrupt timings, run on every board elsewhere (hil
            # on the virtual board, the Pico and QEMU, and tests/contract):
            # here one interrupt (during a flood) stands for them.
            "-k",
            "not TestFaultContract and not eval_values and not interrupt_stops_code"
            " and not an_interrupt_as_exec_starts",
            "-n",
            str(workers),
            "-v",
            "--durations=8",
            "-p",
            "no:cacheprovider",
            f"--lg-places={','.join(places[:workers])}",
            f"--lg-coordinator={coordinator}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        # Not under coverage (hil/ is not measured): traced, pyserial's RFC 2217
        # client parses a flood of output byte by byte too slowly to drain it.
        env={k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"},
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
    # The place's power switch or reset line was used, not skipped.
    assert "PASSED hil/test_hardware.py::test_hard_reset_by_power_switch_or_reset_line" in (
        result.stdout
    )
    print(f"hil contract suite on {workers} labgrid board(s) with -n {workers}: {elapsed:.1f} s")
    print(result.stdout[result.stdout.find("slowest") :][:1200])
    # Released at the end: another client can take the place now.
    taken = _lg(coordinator, "-p", places[0], "acquire")
    assert taken.returncode == 0, taken.stderr
    again = _lg(coordinator, "-p", places[0], "acquire")
    assert again.returncode != 0
    assert "already acquired" in (again.stderr + again.stdout)
    _lg(coordinator, "-p", places[0], "release")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("index, means", [(0, "power"), (1, "reset line")])
def test_hard_reset_through_the_place(rig: tuple[str, list[str]], index: int, means: str) -> None:
    coordinator, places = rig
    place = LabgridPlace(places[index], coordinator)
    url = place.acquire()
    try:
        assert place.hard_reset_means == means
        with Device.open(url, idle_timeout=3.0, deadline=10.0) as device:
            device.exec("survives_reset = 1")
            place.hard_reset()
            device.reopen(timeout=10)
            with pytest.raises(DeviceException, match="NameError"):
                device.exec("survives_reset")
    finally:
        place.release()


# What `labgrid-client show` printed for a place of the rig (labgrid 26).
SHOW_SAMPLE = """\
Place 'iotk1p0':
  matches:
    rig1/board0/*
  acquired: vm/root
  acquired resources:
    rig1/board0/HttpDigitalOutput/reset
    rig1/board0/NetworkPowerPort/NetworkPowerPort
    rig1/board0/NetworkSerialPort/RawSerialPort
  created: 2026-11-24 19:25:02.416276
Acquired resource 'reset' (rig1/board0/HttpDigitalOutput/reset):
  {'acquired': 'iotk1p0',
   'avail': True,
   'cls': 'HttpDigitalOutput',
   'params': {'body_asserted': '1',
              'body_deasserted': '0',
              'extra': {'proxy': 'localhost', 'proxy_required': False},
              'url': 'http://127.0.0.1:40999/reset'}}
Acquired resource 'NetworkPowerPort' (rig1/board0/NetworkPowerPort/NetworkPowerPort):
  {'acquired': 'iotk1p0',
   'avail': True,
   'cls': 'NetworkPowerPort',
   'params': {'extra': {'proxy': 'localhost', 'proxy_required': False},
              'host': 'http://127.0.0.1:40999/power/{value}',
              'index': 0,
              'model': 'simplerest'}}
Acquired resource 'RawSerialPort' (rig1/board0/NetworkSerialPort/RawSerialPort):
  {'acquired': 'iotk1p0',
   'avail': True,
   'cls': 'NetworkSerialPort',
   'params': {'extra': {'path': '/dev/ttyIOTK1x0',
                        'proxy': 'localhost',
                        'proxy_required': False},
              'host': '127.0.0.1',
              'port': 39817,
              'speed': 115200}}
"""


def test_show_output_gives_the_serial_url_and_the_reset_means() -> None:
    resources = parse_show(SHOW_SAMPLE)
    assert [(r.name, r.cls) for r in resources] == [
        ("reset", "HttpDigitalOutput"),
        ("NetworkPowerPort", "NetworkPowerPort"),
        ("RawSerialPort", "NetworkSerialPort"),
    ]
    place = LabgridPlace("iotk1p0", "127.0.0.1:1")
    place.resources = resources
    # The serial port's host, not the power switch's URL (also a 'host').
    assert place.url() == "rfc2217://127.0.0.1:39817?ign_set_control"
    means = []
    for offered in (resources, resources[1:], resources[2:]):
        place.resources = offered
        means.append(place.hard_reset_means)
    assert means == ["reset line", "power", None]  # a reset line is preferred over a power cycle
    place.resources = resources[:2]
    with pytest.raises(PlaceError, match="no network serial port"):
        place.url()


@pytest.mark.timeout(300)
def test_users_board_tests_on_the_farm(rig: tuple[str, list[str]]) -> None:
    """The pytest plugin on a farm: each xdist worker locks its own place and
    runs the example project's board tests there."""
    coordinator, places = rig
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "examples/project",
            "-n",
            "2",
            "-v",
            "-p",
            "no:cacheprovider",
            f"--lg-places={','.join(places[:2])}",
            f"--lg-coordinator={coordinator}",
            "--board-config=sim",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_CONFIG"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    passed = [line for line in result.stdout.splitlines() if "PASSED" in line]
    assert len(passed) == 7 and {"[gw0]", "[gw1]"} <= {line.split()[0] for line in passed}
    for place in places[:2]:  # released at the end
        taken = _lg(coordinator, "-p", place, "acquire")
        assert taken.returncode == 0, taken.stderr
        _lg(coordinator, "-p", place, "release")
