"""Configuration: the devices folder (which boards there are, and which host
folders go on them) and the settings file.

Owns (with one safe YAML reader for both, `yamlfiles.py`) reading the settings
file key by key (`load_settings`: discovery's vendor ids and ports, the
advertisement port, services, the package index), and the YAML files of
the devices folder (`$IOT_DEVICES`, default `$IOT_PROJECTS/devices`,
default `~/iot-projects/devices`), validating both with errors that name
the file, the line and what is wrong. In the devices folder each top-level
key is a device name:

    test-esp32:
      uid: 30aea4308434            # machine.unique_id() as hex (':' allowed)
      resources:
        - path: lib                # a host folder ($IOT_PROJECTS-relative or absolute)
          install-dir: /lib        # where on the board (default /)
          unpack: true             # content into install-dir (default: the folder itself)
          include: ["*.py"]        # glob patterns on the relative path or the name
          exclude: ["test_*", "__pycache__"]
          mpy: true                # compile .py to .mpy on the host (default: false)
      dtr: false                   # DTR/RTS low as its port opens: no auto-reset
      rts: false
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .yamlfiles import (
    ConfigError,
    known_fields,
    mapping,
    node_place,
    read_yaml,
    yaml_value,
)

__all__ = ["ConfigError"]  # raised here, defined with the YAML reader

DEVICE_KEYS = {"uid", "resources", "url", "urls", "description", "hard-reset", "dtr", "rts"}
RESOURCE_KEYS = {"path", "install-dir", "unpack", "include", "exclude", "mpy"}
_UID = re.compile(r"^[0-9a-f]{2,64}$")


def projects_dir() -> Path:
    return Path(os.environ.get("IOT_PROJECTS") or Path.home() / "iot-projects").expanduser()


def devices_dir() -> Path:
    env = os.environ.get("IOT_DEVICES")
    return Path(env).expanduser() if env else projects_dir() / "devices"


@dataclass(frozen=True)
class Resource:
    """A host folder installed on a board."""

    local: Path
    install_dir: str = "/"
    unpack: bool = False
    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    # Install `.py` files compiled to `.mpy` (mpy-cross on the host); see iotkernel/mpy.py.
    mpy: bool = False

    @property
    def board_root(self) -> str:
        """The board directory this resource fills."""
        if self.unpack:
            return self.install_dir
        return posixpath.join(self.install_dir, self.local.name)

    def selects(self, relative: str) -> bool:
        """Whether a file (path relative to the folder, posix) belongs to the resource."""
        parts = relative.split("/")
        for pattern in self.exclude:
            if fnmatch.fnmatch(relative, pattern) or any(
                fnmatch.fnmatch(p, pattern) for p in parts
            ):
                return False
        return any(
            fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(parts[-1], pattern)
            for pattern in self.include
        )


@dataclass(frozen=True)
class DeviceConfig:
    name: str
    uid: str | None
    resources: tuple[Resource, ...] = ()
    urls: tuple[str, ...] = ()
    source: str = ""  # file:line where it is defined
    # A host command that resets the board from outside (a power switch, a
    # reset line, a labgrid place): argv, run without a shell by %hardreset.
    hard_reset: tuple[str, ...] = ()
    # DTR/RTS as its serial port opens (None: as pyserial leaves them, raised):
    # false keeps a board whose auto-reset circuit hangs off them running.
    dtr: bool | None = None
    rts: bool | None = None

    def serial_url(self, url: str) -> str:
        """`url` with this board's line levels, where it is a serial port
        and does not set them itself."""
        return with_line_levels(url, self.dtr, self.rts)


def with_line_levels(url: str, dtr: bool | None, rts: bool | None) -> str:
    """A serial `url` with `?dtr=`/`?rts=` added for the levels given (None:
    leave that line alone), unless the URL sets them itself; other URLs as
    they are."""
    if not (url.startswith(("serial://", "rfc2217://", "/"))):
        return url
    extra = [
        f"{name}={int(level)}"
        for name, level in (("dtr", dtr), ("rts", rts))
        if level is not None and f"{name}=" not in url.partition("?")[2]
    ]
    if not extra:
        return url
    if url.startswith("/"):
        url = "serial://" + url
    return url + ("&" if "?" in url else "?") + "&".join(extra)


@dataclass
class Configuration:
    devices: dict[str, DeviceConfig] = field(default_factory=dict)

    def by_uid(self, uid: str | None) -> DeviceConfig | None:
        if uid is None:
            return None
        return next((d for d in self.devices.values() if d.uid == uid), None)

    def for_board(
        self, name: str | None, uid: str | None, url: str | None = None
    ) -> DeviceConfig | None:
        """The configuration of a board: by uid first, then by name, then by
        one of its `url`s (a board without a unique id, on a fixed port)."""
        found = self.by_uid(uid) or (self.devices.get(name) if name else None)
        if found is None and url:
            found = next((d for d in self.devices.values() if url in d.urls), None)
        return found


def normalise_uid(value: object) -> str:
    text = str(value).strip().lower().replace(":", "").replace("-", "")
    if text.startswith("0x"):
        text = text[2:]
    if not _UID.match(text):
        raise ValueError(f"uid must be hexadecimal (e.g. 30aea4308434), got {value!r}")
    return text


def load_configuration(directory: Path | None = None) -> Configuration:
    """Read every *.yaml / *.yml file of the devices folder."""
    directory = directory or devices_dir()
    config = Configuration()
    if not directory.is_dir():
        return config
    uids: dict[str, str] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        for device in _load_file(path):
            if device.name in config.devices:
                raise ConfigError(
                    f"{device.source}: device {device.name!r} is already defined in "
                    f"{config.devices[device.name].source}"
                )
            if device.uid is not None:
                if device.uid in uids:
                    raise ConfigError(
                        f"{device.source}: uid {device.uid} is already used by {uids[device.uid]}"
                    )
                uids[device.uid] = device.name
            config.devices[device.name] = device
    return config


def _load_file(path: Path) -> list[DeviceConfig]:
    root = read_yaml(path)
    if root is None:
        return []
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{node_place(path, root)}: expected device names as top-level keys")
    return [_device(path, name, *nodes) for name, nodes in mapping(root).items()]


def _device(path: Path, name: str, key_node: yaml.Node, value_node: yaml.Node) -> DeviceConfig:
    where = node_place(path, key_node)
    if not isinstance(value_node, yaml.MappingNode):
        raise ConfigError(f"{where}: device {name!r} must be a mapping (uid, resources, ...)")
    fields = known_fields(path, value_node, DEVICE_KEYS, f"for device {name!r}")
    uid = _device_uid(path, fields["uid"][1]) if "uid" in fields else None
    resources = []
    if "resources" in fields:
        node = fields["resources"][1]
        if not isinstance(node, yaml.SequenceNode):
            raise ConfigError(f"{node_place(path, node)}: resources must be a list")
        resources = [_resource(path, item) for item in node.value]
    urls: list[str] = []
    for key in ("url", "urls"):
        if key in fields:
            value = yaml_value(path, fields[key][1])
            urls += [str(v) for v in (value if isinstance(value, list) else [value])]
    hard_reset = _hard_reset(path, fields["hard-reset"][1]) if "hard-reset" in fields else ()
    lines: dict[str, bool | None] = {}
    for key in ("dtr", "rts"):
        value = yaml_value(path, fields[key][1]) if key in fields else None
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"{node_place(path, fields[key][1])}: {key} must be true or false")
        lines[key] = value
    return DeviceConfig(
        name, uid, tuple(resources), tuple(urls), where, hard_reset, lines["dtr"], lines["rts"]
    )


def _device_uid(path: Path, node: yaml.Node) -> str:
    try:
        # The text as written: YAML 1.1 would read 10:20:30:40:50:59 as a
        # base-60 number and 0x1234 as 4660.
        if not isinstance(node, yaml.ScalarNode) or not node.value:
            raise ValueError("uid must be hexadecimal text (e.g. 30aea4308434)")
        return normalise_uid(node.value)
    except ValueError as exc:
        raise ConfigError(f"{node_place(path, node)}: {exc}") from None


def _hard_reset(path: Path, node: yaml.Node) -> tuple[str, ...]:
    command = yaml_value(path, node)
    try:
        if not isinstance(command, str):
            raise ValueError("expected a command line (a string)")
        words = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"{node_place(path, node)}: hard-reset: {exc}") from None
    if not words:
        raise ConfigError(f"{node_place(path, node)}: hard-reset: the command is empty")
    return tuple(words)


def _resource(path: Path, node: yaml.Node) -> Resource:
    where = node_place(path, node)
    if isinstance(node, yaml.ScalarNode):  # `- lib` is short for `- path: lib`
        data: dict[str, Any] = {"path": node.value}
    elif isinstance(node, yaml.MappingNode):
        known_fields(path, node, RESOURCE_KEYS, "in a resource")
        data = yaml_value(path, node)
    else:
        raise ConfigError(f"{where}: a resource is a folder name or a mapping with 'path'")
    if "path" not in data or not isinstance(data["path"], str):
        raise ConfigError(f"{where}: a resource needs 'path' (a host folder)")
    local = Path(os.path.expandvars(data["path"])).expanduser()
    if not local.is_absolute():
        local = projects_dir() / local
    install_dir = str(data.get("install-dir", "/"))
    if not install_dir.startswith("/"):
        raise ConfigError(f"{where}: install-dir must be an absolute board path, like /lib")

    def patterns(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{where}: {key} must be a pattern or a list of patterns")

    flags = {key: data.get(key, False) for key in ("unpack", "mpy")}
    for key, value in flags.items():
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false")
    return Resource(
        local=local,
        install_dir=posixpath.normpath(install_dir),
        unpack=flags["unpack"],
        include=patterns("include", ("*",)),
        exclude=patterns("exclude", ()),
        mpy=flags["mpy"],
    )


# ---------------------------------------------------------------------- settings

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


@dataclass
class Settings:
    """The kernel's settings file (`$IOT_SETTINGS`, default
    `$IOT_PROJECTS/iotkernel.yaml`): discovery's extra USB vendor ids and
    port paths or globs, the advertisement port and bind address, services
    for `%%service`, the index for `%mip`."""

    vendor_ids: dict[int, str] = field(default_factory=lambda: dict(KNOWN_VENDORS))
    extra_ports: list[str] = field(default_factory=list)
    advert_port: int = ADVERT_PORT
    advert_bind: str = "0.0.0.0"
    services: dict[str, str] = field(default_factory=dict)  # %%service NAME -> command prefix
    mip_index: str = "https://micropython.org/pi/v2"
    # DTR/RTS while %discover probes serial ports (None: pyserial's default,
    # raised), for the ports of `probe_vendors` (None: every port).
    probe_dtr: bool | None = None
    probe_rts: bool | None = None
    probe_vendors: frozenset[int] | None = None
    # Folders (globs) where CircuitPython drives may be mounted, besides the usual ones.
    circuitpy_drives: list[str] = field(default_factory=list)


def settings_path() -> Path:
    env = os.environ.get("IOT_SETTINGS")
    if env:
        return Path(env).expanduser()
    projects = os.environ.get("IOT_PROJECTS") or str(Path.home() / "iot-projects")
    return Path(projects).expanduser() / "iotkernel.yaml"


SETTINGS_KEYS = (
    "usb-vendor-ids",
    "extra-ports",
    "advert-port",
    "advert-bind",
    "services",  # for %%service
    "mip-index",  # for %mip
    "probe-lines",  # DTR/RTS while %discover probes
    "circuitpy-drives",  # where CircuitPython boards' drives are mounted
)


def load_settings(path: Path | None = None) -> Settings:
    """Discovery settings; a missing file means the defaults. A broken one
    is a ConfigError naming the file, the line and what was expected.

    usb-vendor-ids: {0x1234: My boards}
    extra-ports: [/tmp/board*]
    advert-port: 50000
    advert-bind: 0.0.0.0
    probe-lines: {dtr: false, rts: false, vendors: [0x303A]}
    """
    path = path or settings_path()
    settings = Settings()
    if not path.exists():
        return settings
    root = read_yaml(path)
    if root is None:
        return settings
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}:{root.start_mark.line + 1}: expected a mapping of settings")
    for key_node, value_node in root.value:
        key = str(key_node.value)
        where = f"{path}:{key_node.start_mark.line + 1}"
        if key not in SETTINGS_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(SETTINGS_KEYS)})")
        value = yaml_value(path, value_node)
        try:
            _apply_setting(settings, key, value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {key}: {exc}") from None
    return settings


def _apply_setting(settings: Settings, key: str, value: Any) -> None:
    """One setting, checked; TypeError or ValueError says what was expected."""

    def text(item: Any, what: str) -> str:
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise TypeError(f"expected {what}, got {item!r}")
        return str(item)

    if key == "usb-vendor-ids":
        if not isinstance(value, dict):
            raise TypeError("expected a mapping of USB vendor ids to names, like {0x1234: Mine}")
        for vid, name in value.items():
            if type(vid) is not int or not 0 <= vid <= 0xFFFF:
                raise ValueError(f"expected a vendor id from 0 to 0xFFFF, got {vid!r}")
            settings.vendor_ids[vid] = text(name, "a vendor name")
    elif key == "extra-ports":
        ports = value if isinstance(value, list) else [value]
        settings.extra_ports = [text(p, "a port path or glob") for p in ports if p is not None]
    elif key == "advert-port":
        if type(value) is not int or not 1 <= value <= 65535:
            raise ValueError(f"expected a UDP port from 1 to 65535, got {value!r}")
        settings.advert_port = value
    elif key == "advert-bind":
        settings.advert_bind = text(value, "an address to listen on")
    elif key == "services":
        if not isinstance(value, dict):
            raise TypeError("expected a mapping of service names to command prefixes")
        settings.services = {text(k, "a name"): text(v, "a command") for k, v in value.items()}
    elif key == "mip-index":
        settings.mip_index = text(value, "the URL of a package index")
    elif key == "probe-lines":
        _apply_probe_lines(settings, value)
    elif key == "circuitpy-drives":
        drives = value if isinstance(value, list) else [value]
        if not all(isinstance(d, str) and d for d in drives):
            raise TypeError(f"expected folders or globs (like /media/*/CIRCUITPY*), got {value!r}")
        settings.circuitpy_drives = list(drives)


def _apply_probe_lines(settings: Settings, value: Any) -> None:
    if not isinstance(value, dict):
        raise TypeError("expected a mapping like {dtr: false, rts: false}")
    unknown = set(value) - {"dtr", "rts", "vendors"}
    if unknown:
        raise ValueError(f"unknown key {sorted(map(str, unknown))[0]!r} (known: dtr, rts, vendors)")
    for line in ("dtr", "rts"):
        level = value.get(line)
        if level is not None and not isinstance(level, bool):
            raise TypeError(f"{line} must be true or false, got {level!r}")
    settings.probe_dtr, settings.probe_rts = value.get("dtr"), value.get("rts")
    vendors = value.get("vendors")
    if vendors is not None:
        vendors = vendors if isinstance(vendors, list) else [vendors]
        if not all(type(v) is int and 0 <= v <= 0xFFFF for v in vendors):
            raise ValueError(f"vendors must be USB vendor ids like 0x303A, got {vendors!r}")
        settings.probe_vendors = frozenset(vendors)
