"""Discovery: advertisement validation, the listener under garbage and floods,
the board-side advertiser on the unix port, ports probed in parallel."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakes.vboard import VirtualSerialBoardProcess
from iotkernel.config import ConfigError, Configuration, DeviceConfig, Settings, load_settings
from iotkernel.device import Device
from iotkernel.discovery import (
    AdvertListener,
    PortInfo,
    candidate_ports,
    parse_advert,
    probe_all,
    probe_url,
)
from iotkernel.files import FileService
from iotkernel.registry import NoSuchDeviceError, Registry

from .backends import require_unix_port

ADVERTISER = Path(__file__).parents[1] / "iotkernel" / "board" / "advertise.py"


@pytest.mark.parametrize(
    ("datagram", "parsed"),
    [
        (b"ws://10.0.0.5:8266\n30aea4308434", ("ws://10.0.0.5:8266", "30aea4308434")),
        (b"wss://board.local\nABCDEF01\n", ("wss://board.local", "abcdef01")),
        (b"ws://10.0.0.5:8266", None),  # no uid
        (b"http://10.0.0.5\nabcd", None),  # not a WebREPL URL
        (b"ws://10.0.0.5:8266\nxyz!", None),  # uid not hex
        (b"ws://:pw@10.0.0.5\nabcd", None),  # credentials in an advert
        (b"ws://10.0.0.5:99999\nabcd", None),  # impossible port
        (b"ws://10.0.0.5\nabcd\nextra", None),
        (b"\xff\xfe\nabcd", None),
        (b"ws://x\n" + b"a" * 300, None),  # oversized
        (b"", None),
    ],
)
def test_advert_validation(datagram: bytes, parsed: tuple[str, str] | None) -> None:
    assert parse_advert(datagram) == parsed


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_any_datagram_is_accepted_or_dropped_never_raises(data: bytes) -> None:
    result = parse_advert(data)
    assert result is None or (result[0].startswith(("ws://", "wss://")) and result[1])


def test_listener_survives_garbage_and_floods() -> None:
    clock = [0.0]
    listener = AdvertListener(port=0, bind="127.0.0.1", clock=lambda: clock[0])
    try:
        for _ in range(200):  # a flood from one sender
            listener.receive(b"ws://10.0.0.9:8266\nbadbad01", "10.0.0.66")
        assert listener.dropped >= 180
        assert listener.receive(b"\x00garbage", "10.0.0.7") is False
        assert listener.receive(b"ws://10.0.0.5:8266\nabcd1234", "10.0.0.5") is True
        assert {a.uid for a in listener.current()} == {"badbad01", "abcd1234"}
        clock[0] += 11  # not heard for more than 10 s: forgotten
        assert listener.current() == []
    finally:
        listener.close()


def test_listener_thread_takes_real_datagrams() -> None:
    listener = AdvertListener(port=0, bind="127.0.0.1")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for payload in (b"\xff" * 2000, b"junk", b"ws://127.0.0.1:8266\n0123abcd"):
                s.sendto(payload, ("127.0.0.1", listener.port))
        deadline = time.monotonic() + 3
        while not listener.current() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [(a.url, a.uid) for a in listener.current()] == [("ws://127.0.0.1:8266", "0123abcd")]
    finally:
        listener.close()


def test_board_side_advertiser_runs_on_the_unix_port(tmp_path: Path) -> None:
    require_unix_port()
    listener = AdvertListener(port=0, bind="127.0.0.1")
    try:
        with Device.open(f"unix://?dir={tmp_path}") as board:
            FileService(board).write("/advertise.py", ADVERTISER.read_bytes())
            sent = board.exec(
                "import advertise\n"
                f"print(advertise.advertise(url='ws://127.0.0.1:8266', uid='feedc0de', "
                f"host='127.0.0.1', port={listener.port}, interval=0.05, count=3))"
            )
        assert sent.strip() == b"3"
        deadline = time.monotonic() + 3
        while not listener.current() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [(a.url, a.uid) for a in listener.current()] == [("ws://127.0.0.1:8266", "feedc0de")]
    finally:
        listener.close()


def test_settings_file(tmp_path: Path) -> None:
    path = tmp_path / "iotkernel.yaml"
    path.write_text(
        "usb-vendor-ids: {0x1234: My boards}\nextra-ports: [/tmp/x*]\nadvert-port: 50001\n"
    )
    loaded = load_settings(path)
    assert loaded.vendor_ids[0x1234] == "My boards"
    assert loaded.extra_ports == ["/tmp/x*"]
    assert loaded.advert_port == 50001


def test_probe_lines_setting(tmp_path: Path) -> None:
    path = tmp_path / "iotkernel.yaml"
    path.write_text("probe-lines: {dtr: false, rts: false, vendors: [0x303A, 0x10C4]}\n")
    loaded = load_settings(path)
    assert (loaded.probe_dtr, loaded.probe_rts) == (False, False)
    assert loaded.probe_vendors == frozenset({0x303A, 0x10C4})
    for text, error in [
        ("probe-lines: {dtr: 0}\n", "dtr must be true or false"),
        ("probe-lines: {dsr: false}\n", "unknown key 'dsr'"),
        ("probe-lines: {vendors: [esp]}\n", "vendors must be USB vendor ids"),
        ("probe-lines: false\n", "expected a mapping"),
    ]:
        path.write_text("advert-port: 50000\n" + text)
        with pytest.raises(ConfigError, match=rf"iotkernel\.yaml:2: probe-lines: .*{error}"):
            load_settings(path)


def test_probe_url_takes_the_line_levels_of_the_port() -> None:
    esp = PortInfo("/dev/ttyUSB0", vid=0x303A)
    pico = PortInfo("/dev/ttyACM0", vid=0x2E8A)
    nothing = Configuration()
    assert probe_url(esp, Settings(), nothing) == "serial:///dev/ttyUSB0"  # pyserial's default
    lowered = Settings(probe_dtr=False, probe_rts=False)
    assert probe_url(esp, lowered, nothing) == "serial:///dev/ttyUSB0?dtr=0&rts=0"
    assert probe_url(pico, lowered, nothing) == "serial:///dev/ttyACM0?dtr=0&rts=0"
    # Only the vendors named: a Pico's USB CDC wants DTR raised to talk.
    esp_only = Settings(probe_dtr=False, probe_rts=False, probe_vendors=frozenset({0x303A}))
    assert probe_url(esp, esp_only, nothing) == "serial:///dev/ttyUSB0?dtr=0&rts=0"
    assert probe_url(pico, esp_only, nothing) == "serial:///dev/ttyACM0"
    # The board configured on that port wins over the settings.
    rig = Configuration({"bench": DeviceConfig("bench", None, urls=("/dev/ttyACM0",), rts=False)})
    assert probe_url(pico, Settings(), rig) == "serial:///dev/ttyACM0?rts=0"
    assert probe_url(pico, lowered, rig) == "serial:///dev/ttyACM0?rts=0"


def test_virtual_boards_probed_in_parallel_and_grouped_by_uid(tmp_path: Path) -> None:
    require_unix_port()
    boards = [
        VirtualSerialBoardProcess(
            tmp_path / f"ttyVB{i}", board_dir=tmp_path / f"b{i}", uid=bytes([0xB0, i])
        )
        for i in range(3)
    ]
    try:
        found = Settings(extra_ports=[str(tmp_path / "ttyVB*")])
        ports = candidate_ports(found)
        assert sorted(p.device for p in ports) == [str(b.path) for b in boards]
        probes = probe_all([p.url for p in ports])
        assert sorted(str(p.identity.uid) for p in probes if p.identity) == ["b000", "b001", "b002"]
        registry = Registry(tmp_path / "registered.json")
        records = registry.discover(found)
        assert sorted(r.uid or "" for r in records) == ["b000", "b001", "b002"]
        assert registry.resolve("b001") == [f"serial://{tmp_path / 'ttyVB1'}"]
        with pytest.raises(NoSuchDeviceError, match="no board"):
            registry.resolve("nonesuch")
        with pytest.raises(NoSuchDeviceError, match="not reachable over ws"):
            registry.resolve("b001", ["ws"])
    finally:
        for board in boards:
            board.stop()


def test_discovered_urls_keep_the_probe_line_levels(tmp_path: Path) -> None:
    """A board probed with DTR/RTS low is listed, and reconnected to, with them low."""
    require_unix_port()
    board = VirtualSerialBoardProcess(tmp_path / "ttyESP", board_dir=tmp_path / "b", uid=b"\xe5")
    try:
        found = Settings(extra_ports=[str(board.path)], probe_dtr=False, probe_rts=False)
        registry = Registry(tmp_path / "registered.json")
        records = registry.discover(found, Configuration())
        assert [r.urls for r in records] == [[f"serial://{board.path}?dtr=0&rts=0"]]
        [url] = registry.resolve("e5")
        with Device.open(url) as device:
            assert device.exec("print(6 * 7)") == b"42\n"
    finally:
        board.stop()
