"""Finding boards: serial ports probed in parallel, and UDP advertisements.

Owns the discovery settings (`$IOT_SETTINGS`, default
`$IOT_PROJECTS/iotkernel.yaml`): extra USB vendor ids, extra port paths or
globs (virtual boards, which pyserial's `list_ports` cannot see), and the
advertisement port and bind address; listing candidate serial ports;
probing them in parallel with short timeouts for uid, platform and
implementation; and a listener for advertisements (`url\\nuid` datagrams,
port 50000 by default) that validates every datagram, drops floods and
garbage without ever dying, and forgets a board not heard for 10 s.
An advertisement only lists a board: it never triggers a connection.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .device import Device, DeviceIdentity
from .errors import IotKernelError

log = logging.getLogger(__name__)

# USB vendor ids of the usual MicroPython / CircuitPython boards.
KNOWN_VENDORS: dict[int, str] = {
    0x239A: "Adafruit",
    0x2B04: "Particle",
    0x10C4: "Silicon Labs CP210x",
    0x303A: "Espressif",
    0xF055: "MicroPython",
    0x1A86: "QinHeng CH340",
    0x2E8A: "Raspberry Pi",
    0x0483: "STMicroelectronics",
    0x1915: "Nordic Semiconductor",
}
ADVERT_PORT = 50000
ADVERT_TTL = 10.0  # seconds a board stays listed after its last advertisement
ADVERT_MAX_BYTES = 256
ADVERT_SCHEMES = ("ws", "wss")
ADVERT_RATE = 20  # datagrams per second accepted from one sender
_UID = re.compile(r"^[0-9a-f]{4,64}$")


@dataclass
class Settings:
    vendor_ids: dict[int, str] = field(default_factory=lambda: dict(KNOWN_VENDORS))
    extra_ports: list[str] = field(default_factory=list)
    advert_port: int = ADVERT_PORT
    advert_bind: str = "0.0.0.0"
    services: dict[str, str] = field(default_factory=dict)  # %%service NAME -> command prefix
    mip_index: str = "https://micropython.org/pi/v2"


def settings_path() -> Path:
    env = os.environ.get("IOT_SETTINGS")
    if env:
        return Path(env).expanduser()
    projects = os.environ.get("IOT_PROJECTS") or str(Path.home() / "iot-projects")
    return Path(projects).expanduser() / "iotkernel.yaml"


def load_settings(path: Path | None = None) -> Settings:
    """Discovery settings; a missing file means the defaults.

    usb-vendor-ids: {0x1234: My boards}
    extra-ports: [/tmp/board*]
    advert-port: 50000
    advert-bind: 0.0.0.0
    """
    from .config import ConfigError

    path = path or settings_path()
    settings = Settings()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return settings
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping")
    unknown = set(data) - {
        "usb-vendor-ids",
        "extra-ports",
        "advert-port",
        "advert-bind",
        "services",  # for %%service
        "mip-index",  # for %mip
    }
    if unknown:
        raise ConfigError(f"{path}: unknown key {sorted(unknown)[0]!r}")
    for vid, name in (data.get("usb-vendor-ids") or {}).items():
        settings.vendor_ids[int(vid)] = str(name)
    ports = data.get("extra-ports") or []
    settings.extra_ports = [str(p) for p in (ports if isinstance(ports, list) else [ports])]
    settings.advert_port = int(data.get("advert-port", ADVERT_PORT))
    settings.advert_bind = str(data.get("advert-bind", "0.0.0.0"))
    services = data.get("services") or {}
    if not isinstance(services, dict):
        raise ConfigError(f"{path}: 'services' must map names to command prefixes")
    settings.services = {str(k): str(v) for k, v in services.items()}
    settings.mip_index = str(data.get("mip-index", settings.mip_index))
    return settings


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
    if not _UID.match(uid) or any(c in url for c in " \t\r\x00"):
        return None
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
