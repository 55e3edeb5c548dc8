"""The device registry: every board once, keyed by uid, with all its URLs.

Owns merging configured devices (name ↔ uid), probed serial ports,
advertisements and `%register`ed URLs into one table where a board reachable
by USB and WiFi is one device with two URLs; remembering registered URLs;
and resolving what a user types (`NAME`, `UID` or `URL`) to URLs, in the
order of the schemes asked for, discovering again when it is not known yet
(`find`). Errors say the real reason.

Advertisements are the one source anybody on the network can forge: an
advertised URL is used only when its uid has no other known host (the
configuration's URLs, `known_hosts.json`); otherwise it is a warning of
`discover()` and never a URL of the board. `find` says whether the URL it
chose came only from an advertisement, so the session trusts it on first
use, sends it no `default` password and checks the uid after login.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .config import Configuration, Settings, load_configuration, load_settings
from .discovery import AdvertListener, Probe, candidate_ports, probe_all, probe_url
from .errors import IotKernelError
from .knownhosts import KnownHosts, host_of
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
    # URLs known only from advertisements (anybody on the network may send one).
    advertised: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        return self.name or self.uid or (self.urls[0] if self.urls else "?")


class Found(NamedTuple):
    """What `find` chose: the URL, the board's name (or uid) and the uid it is
    expected to answer with, and whether only an advertisement named the URL."""

    url: str
    name: str | None
    uid: str | None = None
    advertised: bool = False


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
        # Advertisements not taken, each said once per discovery (another host
        # than the one the uid is known at).
        self.warnings: list[str] = []
        self.known_hosts = KnownHosts(state_file.parent / "known_hosts.json")

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
        self.warnings = []
        if self.listener is not None:
            for advert in self.listener.current():
                refusal = self._untrusted_host(advert.uid, advert.url, config)
                if refusal is not None:
                    self.warnings.append(refusal)
                    continue
                record = record_for(advert.uid, advert.url)
                if advert.url not in record.urls:
                    record.urls.append(advert.url)
                    record.advertised.add(advert.url)
        boards = sorted(records.values(), key=lambda r: (r.name is None, r.label))
        self.records = ([self.builtin] if self.builtin is not None else []) + boards
        return self.records

    def _untrusted_host(self, uid: str, url: str, config: Configuration) -> str | None:
        """Why an advertisement of `uid` at `url` is not taken, or None."""
        configured = config.by_uid(uid)
        network_urls = [u for u in (configured.urls if configured else ()) if "://" in u]
        hosts = {host_of(u) for u in network_urls if u.split("://", 1)[0] in ("ws", "wss")}
        try:
            known = self.known_hosts.host(uid)
        except IotKernelError as exc:
            return f"advertisement of {uid} at {url} not used: {exc}"
        if known is not None:
            hosts.add(known)
        if hosts and host_of(url) not in hosts:
            label = configured.name if configured else uid
            return (
                f"warning: an advertisement names board {label} (uid {uid}) at {url}, but it "
                f"is known at {', '.join(sorted(hosts))}: not used (if the board moved, "
                f"%connect its URL once, or remove it from {self.known_hosts.path})"
            )
        return None

    def known(self) -> list[DeviceRecord]:
        """The last discovery's boards (the built-in board even before one)."""
        if self.records:
            return self.records
        return [self.builtin] if self.builtin is not None else []

    def find(
        self, target: str, schemes: list[str], wait: float = 0.0, settings: Settings | None = None
    ) -> Found:
        """The URL, name and expected uid of a name, uid or URL: from what is
        known, else by discovering again, for up to `wait` seconds. A URL the
        user typed is taken as it is (the board's uid is not known)."""
        if "://" in target:
            return Found(target, None)
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
        return Found(urls[0], record.name or record.uid, record.uid, urls[0] in record.advertised)

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
