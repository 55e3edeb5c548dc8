"""Finding boards: serial ports probed in parallel, and UDP advertisements.

Owns listing candidate serial ports (by the settings' USB vendor ids and
extra port paths or globs: virtual boards, which pyserial's `list_ports`
cannot see; the settings themselves are `config.Settings`) and the DTR/RTS
levels each is opened with; probing them in parallel with short timeouts for uid, platform and
implementation; and a listener for advertisements (`url\\nuid` datagrams,
port 50000 by default) that validates every datagram, drops floods and
garbage without ever dying, and forgets a board not heard for 10 s.
An advertisement only lists a board: it never triggers a connection (which
advertised hosts are used: `registry.py`, `knownhosts.py`).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .config import ADVERT_PORT, Configuration, Settings, with_line_levels
from .device import Device
from .device.calls import DeviceIdentity
from .errors import IotKernelError

log = logging.getLogger(__name__)

ADVERT_TTL = 10.0  # seconds a board stays listed after its last advertisement
ADVERT_MAX_BYTES = 256
ADVERT_SCHEMES = ("ws", "wss")
ADVERT_RATE = 20  # datagrams per second accepted from one sender
_UID = re.compile(r"^[0-9a-f]{4,64}$")
_MAX_SENDERS = 4096  # senders the advert rate table remembers at once


# ---------------------------------------------------------------------- serial ports


@dataclass(frozen=True)
class PortInfo:
    """A serial port and its USB details (None for virtual ports)."""

    device: str
    vid: int | None = None
    pid: int | None = None
    serial_number: str | None = None
    manufacturer: str | None = None
    description: str | None = None
    configured: bool = False  # listed in the settings' extra-ports

    @property
    def url(self) -> str:
        return f"serial://{self.device}"


def all_ports(settings: Settings) -> list[PortInfo]:
    """Every serial port pyserial sees, plus the configured extra ports."""
    from serial.tools import list_ports

    ports = [
        PortInfo(p.device, p.vid, p.pid, p.serial_number, p.manufacturer, p.description)
        for p in list_ports.comports()
    ]
    seen = {p.device for p in ports}
    for pattern in settings.extra_ports:
        for path in sorted(glob.glob(os.path.expanduser(pattern))):
            if path not in seen:
                ports.append(PortInfo(path, description="configured port", configured=True))
                seen.add(path)
    return ports


def candidate_ports(settings: Settings) -> list[PortInfo]:
    """Ports that may be MicroPython boards: known USB vendors and extra ports."""
    return [p for p in all_ports(settings) if p.configured or p.vid in settings.vendor_ids]


def probe_url(port: PortInfo, settings: Settings, config: Configuration) -> str:
    """The URL a port is probed (and then listed) by, with the line levels
    it must open with: those of the board configured on that port, else the
    settings' `probe-lines` where they apply to the port's vendor. An ESP32
    whose auto-reset circuit hangs off DTR/RTS would otherwise reset as
    %discover opens its port."""
    for device in config.devices.values():
        if {port.device, port.url} & set(device.urls) and (device.dtr, device.rts) != (None, None):
            return device.serial_url(port.url)
    if settings.probe_vendors is not None and port.vid not in settings.probe_vendors:
        return port.url
    return with_line_levels(port.url, settings.probe_dtr, settings.probe_rts)


@dataclass(frozen=True)
class Probe:
    """What probing one URL found: an identity or the reason it failed."""

    url: str
    identity: DeviceIdentity | None = None
    error: str | None = None


def probe(url: str, timeout: float = 2.0, **options: Any) -> Probe:
    """Open `url` briefly and ask the board who it is."""
    try:
        with Device.open(url, idle_timeout=timeout, deadline=timeout, **options) as device:
            return Probe(url, device.identity())
    except IotKernelError as exc:
        return Probe(url, error=str(exc))
    except OSError as exc:
        return Probe(url, error=str(exc))


def probe_all(urls: list[str], timeout: float = 2.0, workers: int = 16) -> list[Probe]:
    """Probe every URL in parallel; the result keeps the order of `urls`."""
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(urls))) as pool:
        return list(pool.map(lambda u: probe(u, timeout), urls))


# ---------------------------------------------------------------------- advertisements


@dataclass(frozen=True)
class Advert:
    url: str
    uid: str
    seen: float
    sender: str


def parse_advert(data: bytes) -> tuple[str, str] | None:
    """(url, uid) from a datagram, or None when it is not a valid advertisement."""
    if not data or len(data) > ADVERT_MAX_BYTES:
        return None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    lines = text.strip().split("\n")
    if len(lines) != 2:
        return None
    url, uid = lines[0].strip(), lines[1].strip().lower()
    if not _UID.match(uid) or not url.isprintable() or " " in url:
        return None  # control characters would reach %discover's output
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ADVERT_SCHEMES or not parts.hostname or "@" in parts.netloc:
        return None
    if port is not None and not 0 < port < 65536:
        return None
    return url, uid


class AdvertListener:
    """Collects board advertisements from UDP datagrams in a background thread."""

    def __init__(
        self,
        port: int = ADVERT_PORT,
        bind: str = "0.0.0.0",
        *,
        ttl: float = ADVERT_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._adverts: dict[str, Advert] = {}
        self._rates: dict[str, tuple[float, int]] = {}
        self.dropped = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((bind, port))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="advert-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, (host, _) = self._sock.recvfrom(ADVERT_MAX_BYTES + 1)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            try:
                self.receive(data, host)
            except Exception:  # a listener never dies of a datagram
                self.dropped += 1
                log.debug("advertisement dropped", exc_info=True)

    def receive(self, data: bytes, sender: str) -> bool:
        """Take one datagram; True if it was a valid, accepted advertisement."""
        now = self._clock()
        with self._lock:
            start, count = self._rates.get(sender, (now, 0))
            if now - start >= 1.0:
                start, count = now, 0
            count += 1
            self._rates[sender] = (start, count)
            if len(self._rates) > _MAX_SENDERS:
                self._forget_quiet_senders(now)
            if count > ADVERT_RATE:
                self.dropped += 1
                return False
        parsed = parse_advert(data)
        if parsed is None:
            self.dropped += 1
            return False
        url, uid = parsed
        with self._lock:
            self._adverts[url] = Advert(url, uid, now, sender)
            if len(self._adverts) > 1024:  # a flood of distinct URLs: keep the freshest
                oldest = min(self._adverts.values(), key=lambda a: a.seen)
                del self._adverts[oldest.url]
        return True

    def _forget_quiet_senders(self, now: float) -> None:
        """Bound the rate table (spoofed senders are free to make): drop the
        senders whose window ended; in a flood of fresh ones, all of them."""
        for sender in [s for s, (start, _) in self._rates.items() if now - start >= 1.0]:
            del self._rates[sender]
        if len(self._rates) > _MAX_SENDERS:
            self._rates.clear()

    def current(self) -> list[Advert]:
        """Boards heard within the last `ttl` seconds."""
        now = self._clock()
        with self._lock:
            for url in [u for u, a in self._adverts.items() if now - a.seen > self._ttl]:
                del self._adverts[url]
            return sorted(self._adverts.values(), key=lambda a: a.url)

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        self._thread.join(timeout=2)
