"""Known hosts: which network host a board (by uid) was trusted at, as SSH's
`known_hosts` remembers a server's key.

Owns the file (`known_hosts.json` in the kernel's data folder: a JSON object
uid → `scheme://host:port`), bounded in size and entries and checked entry
by entry; the host part of a URL that is compared; and remembering a uid's
host on first use. Why: a UDP advertisement is what anybody on the network
may send. It names a URL and a uid; the first connection to an advertised
board trusts that pairing explicitly, and a later advertisement of the same
uid from another host is only a warning (see `Registry.discover`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from .errors import IotKernelError
from .util import atomic_write

MAX_FILE_BYTES = 1 << 20
MAX_ENTRIES = 4096
_UID = re.compile(r"^[0-9a-f]{4,64}$")
_DEFAULT_PORTS = {"ws": 8266, "wss": 8266}


class KnownHostsError(IotKernelError):
    """The known-hosts file cannot be read or is malformed; the message names it."""


def host_of(url: str) -> str:
    """`scheme://host:port` of a network URL (the part trust is about)."""
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme, 0)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


class KnownHosts:
    """uid → the host its board was trusted at."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        try:
            with open(self.path, "rb") as stream:
                raw = stream.read(MAX_FILE_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise KnownHostsError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        if len(raw) > MAX_FILE_BYTES:
            raise KnownHostsError(f"{self.path}: larger than {MAX_FILE_BYTES} bytes")
        try:
            data = json.loads(raw)
        except ValueError:
            raise KnownHostsError(
                f"{self.path}: not valid JSON (fix it or remove it; boards are then "
                "trusted again on first use)"
            ) from None
        if not isinstance(data, dict) or len(data) > MAX_ENTRIES:
            raise KnownHostsError(f"{self.path}: expected an object of at most {MAX_ENTRIES} uids")
        for uid, host in data.items():
            if not _UID.match(uid) or not isinstance(host, str) or len(host) > 300:
                raise KnownHostsError(f"{self.path}: a malformed entry for {uid[:70]!r}")
        return data

    def host(self, uid: str | None) -> str | None:
        """The host `uid` was trusted at, if any."""
        return self.load().get(uid) if uid else None

    def remember(self, uid: str, url: str) -> None:
        """Trust `url`'s host for `uid` from now on (atomically written)."""
        entries = self.load()
        entries[uid] = host_of(url)
        if len(entries) > MAX_ENTRIES:
            raise KnownHostsError(f"{self.path}: already {MAX_ENTRIES} boards")
        atomic_write(self.path, json.dumps(entries, indent=1, sort_keys=True))
