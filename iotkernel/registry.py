"""The device registry: every board once, keyed by uid, with all its URLs.

Owns merging configured devices (name ↔ uid), probed serial ports,
advertisements and `%register`ed URLs into one table where a board reachable
by USB and WiFi is one device with two URLs; remembering registered URLs;
and resolving what a user types (`NAME`, `UID` or `URL`) to URLs, in the
order of the schemes asked for, discovering again when it is not known yet
(`find`). Errors say the real reason.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .config import Configuration, Settings, load_configuration, load_settings
from .discovery import AdvertListener, Probe, candidate_ports, probe_all, probe_url
from .errors import IotKernelError
from .util import Deadline, atomic_write

DEFAULT_SCHEME_ORDER = ("serial", "rfc2217", "socket", "ws", "wss", "unix", "fake")


class NoSuchDeviceError(IotKernelError):
    """No board matches what was asked for."""


@dataclass
class DeviceRecord:
    uid: str | None
    name: str | None = None
    urls: list[str] = field(default_factory=list)
    platform: str = ""
    implementation: str = ""

    @property
    def label(self) -> str:
        return self.name or self.uid or (self.urls[0] if self.urls else "?")


class Registry:
    """Boards the kernel knows of; `discover()` refreshes them."""

    def __init__(
        self,
        state_file: Path,
        listener: AdvertListener | None = None,
        builtin: DeviceRecord | None = None,
    ) -> None:
        self._state_file = state_file
        self.listener = listener
        self.builtin = builtin  # the built-in virtual board, always reachable
        self.records: list[DeviceRecord] = []
        self.failures: list[Probe] = []

    # -- registered URLs

    def registered(self) -> list[str]:
        try:
            data = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return []
        return [str(u) for u in data] if isinstance(data, list) else []

    def _save(self, urls: list[str]) -> None:
        atomic_write(self._state_file, json.dumps(sorted(set(urls)), indent=1))

    def register(self, url: str) -> None:
        self._save([*self.registered(), url])

    def unregister(self, target: str) -> list[str]:
        """Forget registered URLs of a name, uid or URL; returns what was removed."""
        urls = self.registered()
        doomed = {u for u in urls if u == target}
        for record in self.records:
            if target in (record.name, record.uid):
                doomed |= {u for u in record.urls if u in urls}
        if not doomed:
            raise NoSuchDeviceError(f"{target!r} is not a registered device (see %discover -v)")
        self._save([u for u in urls if u not in doomed])
        return sorted(doomed)

    # -- discovery

    def discover(
        self, settings: Settings, config: Configuration | None = None, timeout: float = 2.0
    ) -> list[DeviceRecord]:
        """Probe candidate ports and registered URLs in parallel, add adverts,
        and group everything by uid."""
        config = config if config is not None else load_configuration()
        urls = [probe_url(p, settings, config) for p in candidate_ports(settings)]
        urls += [u for u in self.registered() if u not in urls]
        probes = probe_all(urls, timeout=timeout)
        records: dict[str, DeviceRecord] = {}
        self.failures = [p for p in probes if p.identity is None]

        def record_for(uid: str | None, key: str) -> DeviceRecord:
            index = uid or key
            if index not in records:
                configured = config.by_uid(uid)
                records[index] = DeviceRecord(uid, configured.name if configured else None)
            return records[index]

        for found in probes:
            if found.identity is None:
                continue
            record = record_for(found.identity.uid, found.url)
            record.urls.append(found.url)
            record.platform = found.identity.platform
            record.implementation = found.identity.implementation
        if self.listener is not None:
            for advert in self.listener.current():
                record = record_for(advert.uid, advert.url)
                if advert.url not in record.urls:
                    record.urls.append(advert.url)
        boards = sorted(records.values(), key=lambda r: (r.name is None, r.label))
        self.records = ([self.builtin] if self.builtin is not None else []) + boards
        return self.records

    def known(self) -> list[DeviceRecord]:
        """The last discovery's boards (the built-in board even before one)."""
        if self.records:
            return self.records
        return [self.builtin] if self.builtin is not None else []

    def find(
        self, target: str, schemes: list[str], wait: float = 0.0, settings: Settings | None = None
    ) -> tuple[str, str | None]:
        """(url, configured name) for a name, uid or URL: from what is known,
        else by discovering again, for up to `wait` seconds."""
        if "://" in target:
            return target, None
        deadline = Deadline.after(wait)
        settings = load_settings() if settings is None else settings
        while True:
            try:
                urls = self.resolve(target, schemes)
                break
            except NoSuchDeviceError:
                self.discover(settings)
                try:
                    urls = self.resolve(target, schemes)
                    break
                except NoSuchDeviceError:
                    if deadline.expired():
                        raise
                    time.sleep(0.5)
        record = next(r for r in self.known() if urls[0] in r.urls)
        return urls[0], record.name or record.uid

    def resolve(self, target: str, schemes: Iterable[str] = ()) -> list[str]:
        """URLs of `target` (a name, a uid, or a URL), preferred schemes first."""
        if "://" in target:
            return [target]
        target_uid = target.lower().replace(":", "")
        matches = [
            r
            for r in self.known()
            if target in (r.name, r.uid) or (r.uid is not None and r.uid == target_uid)
        ]
        if not matches:
            raise NoSuchDeviceError(
                f"no board named or with uid {target!r} was found: %discover lists the boards "
                "it can reach (check the cable, the configuration's uid, or WiFi adverts)"
            )
        if len(matches) > 1:
            raise NoSuchDeviceError(
                f"{target!r} is ambiguous: " + ", ".join(r.label for r in matches)
            )
        order = [*schemes, *DEFAULT_SCHEME_ORDER]

        def rank(url: str) -> int:
            scheme = url.split("://", 1)[0]
            with contextlib.suppress(ValueError):
                return order.index(scheme)
            return len(order)

        urls = sorted(matches[0].urls, key=rank)
        if schemes:
            preferred = [u for u in urls if u.split("://", 1)[0] in set(schemes)]
            if not preferred:
                raise NoSuchDeviceError(
                    f"{target!r} is not reachable over {', '.join(schemes)} "
                    f"(it is over: {', '.join(urls)})"
                )
            return preferred
        return urls
