"""Link-specific behaviour of the serial and WebREPL transports.

Against real peers: a virtual serial board (its own process, a tty path), the
same board exported over TCP raw (`socket://`) and RFC 2217 (`rfc2217://`,
pyserial's own port manager on the server side), and the WebREPL bridge.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial
import serial.rfc2217

from fakes.vboard import VirtualSerialBoardProcess
from fakes.webrepl_bridge import WebReplBridge
from iotkernel.device import Device
from iotkernel.errors import (
    AuthenticationError,
    DeviceTimeoutError,
    PortBusyError,
    TransportError,
    UnsupportedUrlError,
)
from iotkernel.kernel.session import BoardSession
from iotkernel.secrets import SecretsError, webrepl_password
from iotkernel.transport import reset_line
from iotkernel.transport.serialport import SerialTransport

from ..backends import require_unix_port

PASSWORD = "s3cret99"


def ours(caplog: pytest.LogCaptureFixture) -> str:
    """What IoT Kernel logged (the bridge's server library logs its own side)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("iotkernel"))


@pytest.fixture
def vboard(tmp_path: Path) -> Iterator[VirtualSerialBoardProcess]:
    require_unix_port()
    with VirtualSerialBoardProcess(tmp_path / "ttyVB0", board_dir=tmp_path / "files") as board:
        yield board


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[WebReplBridge]:
    require_unix_port()
    with WebReplBridge(password=PASSWORD, board_dir=tmp_path / "ws-files") as b:
        yield b


# ---------------------------------------------------------------------- serial


def test_plain_device_path_and_serial_url(vboard: VirtualSerialBoardProcess) -> None:
    for url in (str(vboard.path), vboard.url):
        with Device.open(url) as device:
            assert device.eval("6 * 7") == 42


def test_busy_port_names_the_port(vboard: VirtualSerialBoardProcess) -> None:
    with Device.open(vboard.url):
        with pytest.raises(PortBusyError) as info:
            Device.open(vboard.url)
        assert str(vboard.path) in str(info.value)


def test_close_frees_the_port_at_once(vboard: VirtualSerialBoardProcess) -> None:
    Device.open(vboard.url).close()
    with Device.open(vboard.url) as device:
        assert device.eval("1") == 1


def test_missing_port_is_a_transport_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError) as info:
        Device.open(f"serial://{tmp_path}/no-such-port")
    assert "no-such-port" in str(info.value)


def test_unknown_scheme_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedUrlError) as info:
        Device.open("bluetooth://board")
    assert "serial" in str(info.value)


def test_boot_noise_before_the_raw_banner(tmp_path: Path) -> None:
    require_unix_port()
    noise = b"ets Jun  8 2016 00:22:57\r\nrst:0x1 (POWERON_RESET),boot:0x13\r\n\xff\xfe" * 5
    with (
        VirtualSerialBoardProcess(
            tmp_path / "ttyN", board_dir=tmp_path / "f", boot_noise=noise
        ) as board,
        Device.open(board.url) as device,
    ):
        assert device.eval("'past the noise'") == "past the noise"
        assert b"POWERON_RESET" in device.take_unsolicited()


def test_unplug_mid_exec_is_a_typed_error_within_the_deadline(
    vboard: VirtualSerialBoardProcess,
) -> None:
    device = Device.open(vboard.url, deadline=5)
    threading.Timer(0.3, vboard.unplug).start()
    start = time.monotonic()
    with pytest.raises((TransportError, DeviceTimeoutError)):
        device.exec("import time\nwhile True: time.sleep(0.01)", timeout=5)
    assert time.monotonic() - start < 5.5
    device.close()


def test_replug_then_reconnect_works(vboard: VirtualSerialBoardProcess) -> None:
    device = Device.open(vboard.url)
    uid = device.identity().uid
    device.exec("f = open('/kept.txt', 'w'); f.write('flash'); f.close()")
    vboard.unplug()
    assert not vboard.path.exists()
    with pytest.raises(TransportError):
        device.exec("print(1)")
    vboard.plug()
    device.reopen(timeout=10)
    assert device.identity(refresh=True).uid == uid  # the same board came back
    assert device.eval("open('/kept.txt').read()") == "flash"  # its files too
    device.close()


def test_port_without_modem_lines_has_no_hard_reset(vboard: VirtualSerialBoardProcess) -> None:
    with Device.open(vboard.url) as device:
        assert reset_line(device.transport) is None  # a pty has no DTR/RTS
        assert isinstance(device.transport, SerialTransport)
        with pytest.raises(TransportError):
            device.transport.hard_reset()
        assert device.eval("1") == 1


# ---------------------------------------------------------------------- TCP serial servers


class ThreeWirePort(serial.Serial):
    """The pty of a virtual board has no modem-control lines: report them idle,
    like a UART with only RX, TX and ground (PortManager polls them). The
    levels the client asks for over RFC 2217 are kept in `lines`, as an
    auto-reset circuit on DTR/RTS would see them."""

    cts = dsr = ri = cd = property(lambda self: False)
    lines: list[tuple[str, bool]] | None = None  # set once open: what the client sets

    def _update_dtr_state(self) -> None:
        if self.lines is not None:
            self.lines.append(("dtr", bool(self.dtr)))

    def _update_rts_state(self) -> None:
        if self.lines is not None:
            self.lines.append(("rts", bool(self.rts)))


class SerialServer:
    """Serve a serial port over TCP on loopback: raw (like ser2net's raw mode)
    or RFC 2217 (pyserial's own PortManager, as in its rfc2217_server example)."""

    def __init__(self, port_path: Path, *, rfc2217: bool) -> None:
        self._port_path = port_path
        self._rfc2217 = rfc2217
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = self._listener.getsockname()[1]
        self._conn: socket.socket | None = None
        self._lock = threading.Lock()
        self.lines: list[tuple[str, bool]] = []  # DTR/RTS levels the client set, in order

    def __enter__(self) -> SerialServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()

    def write(self, data: bytes) -> None:  # PortManager's link to the client
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(OSError):
                    self._conn.sendall(data)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._session(conn)

    def _session(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.settimeout(0.2)
        self._conn = conn
        port = ThreeWirePort(str(self._port_path), timeout=0.05)
        port.lines = self.lines
        # The stubs ask for a Serial as its connection; it takes any object with write().
        manager = serial.rfc2217.PortManager(port, self) if self._rfc2217 else None  # type: ignore[arg-type]
        alive = threading.Event()
        alive.set()

        def device_to_net() -> None:
            while alive.is_set():
                try:
                    data = port.read(port.in_waiting or 1)
                except (serial.SerialException, OSError, TypeError):
                    return
                if data:
                    self.write(b"".join(manager.escape(data)) if manager else data)

        reader = threading.Thread(target=device_to_net, daemon=True)
        reader.start()
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            port.write(b"".join(manager.filter(data)) if manager else data)
        alive.clear()
        reader.join(timeout=2)
        port.close()
        with self._lock:
            self._conn = None
        conn.close()


@pytest.mark.parametrize("scheme", ["socket", "rfc2217"])
def test_network_serial_urls(vboard: VirtualSerialBoardProcess, scheme: str) -> None:
    with (
        SerialServer(vboard.path, rfc2217=scheme == "rfc2217") as server,
        Device.open(f"{scheme}://127.0.0.1:{server.port}") as device,
    ):
        assert device.eval("[i * i for i in range(5)]") == [0, 1, 4, 9, 16]
        assert device.exec("print('λ' * 300)").decode().strip() == "λ" * 300


@pytest.mark.parametrize("query", ["", "?dtr=0&rts=0"])
def test_dtr_and_rts_stay_low_from_the_open_on_when_asked(
    vboard: VirtualSerialBoardProcess, query: str
) -> None:
    """An ESP32's auto-reset circuit resets it when DTR/RTS go high on open:
    with ?dtr=0&rts=0 the lines are low from the first byte and never raised."""
    with (
        SerialServer(vboard.path, rfc2217=True) as server,
        Device.open(f"rfc2217://127.0.0.1:{server.port}{query}") as device,
    ):
        assert device.eval("6 * 7") == 42
        levels = server.lines
    assert {name for name, _ in levels} == {"dtr", "rts"}, levels
    if query:
        assert all(level is False for _, level in levels), levels
    else:
        assert ("dtr", True) in levels  # pyserial's default raises them


def test_the_device_configuration_sets_the_line_levels(
    vboard: VirtualSerialBoardProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dtr: false` / `rts: false` on a configured board: connecting to it by
    its name opens the port with both lines low."""
    with SerialServer(vboard.path, rfc2217=True) as server:
        url = f"rfc2217://127.0.0.1:{server.port}"
        (tmp_path / "esp.yaml").write_text(f"esp:\n  url: {url}\n  dtr: false\n  rts: false\n")
        monkeypatch.setenv("IOT_DEVICES", str(tmp_path))
        session = BoardSession(remember=False)
        try:
            assert session.connect(url, name="esp").eval("1 + 1") == 2
            assert session.url == url + "?dtr=0&rts=0"
        finally:
            session.close()
        assert server.lines and all(level is False for _, level in server.lines), server.lines


def test_bad_line_levels_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedUrlError, match="dtr must be 0 or 1"):
        Device.open(f"serial://{tmp_path}/ttyNONE?dtr=low")


# ---------------------------------------------------------------------- WebREPL


def test_webrepl_login_and_exec(bridge: WebReplBridge) -> None:
    with Device.open(bridge.url, password=PASSWORD) as device:
        assert device.eval("'over websocket'") == "over websocket"


def test_wrong_password_is_an_authentication_error_in_bounded_time(
    bridge: WebReplBridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    start = time.monotonic()
    with pytest.raises(AuthenticationError) as info:
        Device.open(bridge.url, password="wrong-pw1")
    assert time.monotonic() - start < 5
    assert "wrong-pw1" not in str(info.value)
    assert "wrong-pw1" not in ours(caplog)


def test_password_never_logged(bridge: WebReplBridge, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Device.open(bridge.url, password=PASSWORD) as device:
        device.eval("1")
    assert PASSWORD not in ours(caplog)


def test_second_webrepl_client_is_refused_as_busy(bridge: WebReplBridge) -> None:
    with Device.open(bridge.url, password=PASSWORD), pytest.raises(PortBusyError):
        Device.open(bridge.url, password=PASSWORD)


def test_password_in_url_is_refused(bridge: WebReplBridge) -> None:
    with pytest.raises(UnsupportedUrlError, match="secrets file"):
        Device.open(f"ws://:{PASSWORD}@127.0.0.1:{bridge.port}")


def test_password_from_the_secrets_file(
    bridge: WebReplBridge, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"webrepl:\n  127.0.0.1:{bridge.port}: {PASSWORD}\n")
    secrets.chmod(0o600)
    monkeypatch.setenv("IOT_SECRETS", str(secrets))
    with Device.open(bridge.url) as device:
        assert device.eval("2") == 2


def test_secrets_file_readable_by_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("webrepl:\n  default: hunter2\n")
    secrets.chmod(0o644)
    monkeypatch.setenv("IOT_SECRETS", str(secrets))
    with pytest.raises(SecretsError) as info:
        webrepl_password("ws://10.0.0.1:8266")
    assert "chmod 600" in str(info.value)
    assert "hunter2" not in str(info.value)


def test_missing_password_says_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IOT_SECRETS", str(tmp_path / "none.yaml"))
    with pytest.raises(AuthenticationError) as info:
        Device.open("ws://127.0.0.1:9")
    assert "secrets" in str(info.value)


def test_unreachable_webrepl_is_a_transport_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError) as info:
        Device.open(f"ws://127.0.0.1:{port}", password="x")
    assert str(port) in str(info.value)


def test_soft_reset_over_webrepl_logs_in_again(bridge: WebReplBridge) -> None:
    with Device.open(bridge.url, password=PASSWORD) as device:
        device.exec("gone = 1")
        device.soft_reset()
        assert device.eval("'gone' in globals()") is False


def test_webrepl_survives_the_board_dropping_the_session(bridge: WebReplBridge) -> None:
    device = Device.open(bridge.url, password=PASSWORD)
    device.exec("kept = 5")
    bridge.drop_client()
    with pytest.raises(TransportError):
        device.exec("print(1)", timeout=3)
    device.reopen(timeout=5)
    assert device.eval("kept") == 5
    device.close()
