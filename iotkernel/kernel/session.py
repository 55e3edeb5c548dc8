"""The kernel's board session: which board is current, and remembering it.

Owns opening the current board by URL (or the built-in virtual board `sim`,
the unix-port MicroPython in a per-user directory), closing it,
remembering per notebook which board it used, and the reconnect policy: a
restarted kernel reconnects to its notebook's board, a board whose link
failed is found again by its uid. Uses the device layer and the registry;
knows no wire bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import ConfigError, load_configuration, load_settings
from ..device import Device
from ..errors import AuthenticationError, IotKernelError, UnexpectedBoardError, UsageError
from ..files import FileService
from ..knownhosts import KnownHosts
from ..mount import MountServer
from ..reconnect import open_board, reopen_same_board
from ..registry import Found, Registry
from ..secrets import webrepl_password
from ..util import Deadline, atomic_write

# How the session tells the cell what it did: (text, "stdout" or "stderr").
Say = Callable[[str, str], None]

SIM = "sim"


class NoDeviceError(IotKernelError):
    """A cell needs a board, and none is connected."""

    def __init__(self) -> None:
        super().__init__(
            "no board connected: use %connect URL (e.g. %connect serial:///dev/ttyACM0), "
            "%connect sim for the built-in virtual board, or %discover to list boards"
        )


def data_dir() -> Path:
    """Per-user data of IoT Kernel ($XDG_DATA_HOME/iotkernel)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "iotkernel"


def sim_url() -> str:
    """The built-in virtual board: the unix port on a per-user directory."""
    board_dir = data_dir() / "sim"
    board_dir.mkdir(parents=True, exist_ok=True)
    return f"unix://?dir={board_dir}"


def notebook_key() -> str | None:
    """Which notebook this kernel serves, when the frontend tells (Jupyter Server
    sets JPY_SESSION_NAME to the notebook's path)."""
    return os.environ.get("JPY_SESSION_NAME") or None


def _with_configured_lines(url: str, name: str | None) -> str:
    """A serial URL with the DTR/RTS levels its device configuration asks for.
    A broken devices folder does not stop a connection: %rsync reports it."""
    try:
        entry = load_configuration().for_board(name, None, url)
    except ConfigError:
        return url
    return url if entry is None else entry.serial_url(url)


def _login_options(url: str, name: str | None, advertised: bool) -> dict[str, Any]:
    """The WebREPL password for a network URL, by URL or by device name (the
    configured name of the board, or of the URL), never `default` for a host
    only an advertisement named."""
    if not url.startswith(("ws://", "wss://")):
        return {}
    if name is None:
        with contextlib.suppress(ConfigError):
            entry = load_configuration().for_board(None, None, url)
            name = entry.name if entry is not None else None
    password = webrepl_password(url, name, allow_default=not advertised)
    if password is None and advertised and webrepl_password(url, name) is not None:
        raise AuthenticationError(
            f"{url} is known only from an advertisement: the `default` WebREPL password is "
            "not sent to it. Key its password by this URL or by the device's name in the "
            "secrets file, or %connect the URL itself"
        )
    return {} if password is None else {"password": password}


class BoardSession:
    """The current board of one kernel."""

    def __init__(self, state_file: Path | None = None, *, remember: bool = True) -> None:
        self.device: Device | None = None
        self.name: str | None = None
        self.url: str | None = None
        self.uid: str | None = None
        self.lost = False  # the link failed: reconnect by identity before the next cell
        self.detached = False  # `%run -n` left code running: stop it before the next use
        # `%connect --no-interrupt`: opened without a byte sent; the next use
        # enters the raw REPL (stopping the program) and asks who the board is.
        self.attached = False
        self.mount: MountServer | None = None  # a host folder the board sees (%mount)
        self._files: FileService | None = None  # the board's files, one service per board
        self._reconnect_tried = False  # to the board this notebook used last
        self._remembers = remember
        self._state_file = state_file or data_dir() / "notebooks.json"

    def connect_found(
        self,
        found: Found,
        registry: Registry,
        *,
        remember: str | None = None,
        schemes: list[str] | None = None,
        interrupt: bool = True,
    ) -> Device:
        """`connect` to what `Registry.find` chose, with its trust."""
        return self.connect(
            found.url,
            name=found.name,
            remember=remember,
            schemes=schemes,
            interrupt=interrupt,
            expect_uid=found.uid,
            advertised=found.advertised,
            known_hosts=registry.known_hosts,
        )

    def connect(
        self,
        url: str,
        *,
        name: str | None = None,
        remember: str | None = None,
        schemes: list[str] | None = None,
        interrupt: bool = True,
        expect_uid: str | None = None,
        advertised: bool = False,
        known_hosts: KnownHosts | None = None,
    ) -> Device:
        """Open `url` (or `sim`) and make it the current board.

        `remember` is what the user asked for (a name keeps working when the
        board moves to another port), stored with `schemes` for this notebook.
        `interrupt=False` opens the port and sends nothing (see `attached`).
        `expect_uid`: the board must answer with this uid, or it is closed
        before any cell runs. `advertised`: only an advertisement named the
        URL: no `default` password goes there, and once the board answers
        with the expected uid its host goes into `known_hosts`.
        """
        target_url = sim_url() if url == SIM else _with_configured_lines(url, name)
        if advertised and not interrupt:
            raise UsageError(
                f"{target_url} is known only from an advertisement: its uid is checked before "
                "use, so %connect it once without --no-interrupt"
            )
        login = _login_options(target_url, name, advertised)
        if target_url == self.url:
            self.close()  # the same board again: its port must be free first
        if not interrupt:
            # Attached to whatever runs: nothing is sent until the next use,
            # which stops the program and learns who the board is (require).
            device = Device.open(target_url, connect=False, **login)
            uid = None
        else:
            try:
                device, uid = open_board(target_url, expect_uid=expect_uid, **login)
            except UnexpectedBoardError as exc:
                raise UnexpectedBoardError(
                    f"{exc} (asked for {name or expect_uid}): disconnected before any cell ran"
                ) from None
            try:
                device.take_unsolicited()  # prompts echoed while entering the raw REPL
                if advertised and known_hosts is not None and uid:
                    known_hosts.remember(uid, target_url)
            except BaseException:
                device.close()
                raise
        self.close()
        self.device, self.url, self.lost, self.detached = device, target_url, False, False
        self.uid = uid
        self.attached = not interrupt
        self.name = SIM if url == SIM else (name or self.uid or target_url)
        if self._remembers:
            self._remember(json.dumps({"target": remember or url, "schemes": schemes or []}))
        return device

    def require_attached(self) -> Device:
        """The current board as `%connect --no-interrupt` left it: nothing sent."""
        if self.device is None or self.device.closed:
            raise NoDeviceError
        return self.device

    def require(self) -> Device:
        device = self.require_attached()
        if self.attached:  # %connect --no-interrupt: the program stops now
            device.connect()
            self.uid = device.identity().uid
            self.attached = False
        return device

    def files(self, device: Device) -> FileService:
        """The file service of this board session (it keeps what it learned
        of the board's transfers from one magic to the next)."""
        if self._files is None or self._files.device is not device:
            self._files = FileService(device)
        return self._files

    # -- reconnecting

    def require_reconnecting(self, registry: Registry, say: Say) -> Device:
        """The current board, reconnected first where that is the policy: a
        restarted kernel (no board yet) to its notebook's board, once; a
        board whose link failed (unplugged, reset) to the same board, by uid.
        What happens is said through `say(text, stream)`."""
        if self.device is None and self._remembers and not self._reconnect_tried:
            self._reconnect_tried = True
            remembered = self.remembered()
            if remembered is not None:
                self._reconnect_remembered(registry, say, *remembered)
        elif self.lost:
            self._reconnect_by_identity(registry, say)
        return self.require()

    def _reconnect_remembered(
        self, registry: Registry, say: Say, target: str, schemes: list[str]
    ) -> None:
        try:
            found = registry.find(target, schemes)
            self.connect_found(found, registry, remember=target, schemes=schemes)
            say(f"Reconnected to {self.name} @ {self.url}\n", "stdout")
        except IotKernelError as exc:
            say(f"Could not reconnect to {target}: {exc}\n", "stderr")

    def _reconnect_by_identity(self, registry: Registry, say: Say, wait: float = 10.0) -> None:
        """The same board (same uid), on the same port or another, within `wait` s."""
        deadline = Deadline.after(wait)
        mounted, self.mount = self.mount, None  # kept over connect(), which closes it
        try:
            while not deadline.expired():
                if self._reopened_same_board() or self._found_same_board(registry):
                    say(f"Reconnected to {self.name} @ {self.url}\n", "stdout")
                    mounted, self.mount = None, self._remounted(mounted, say)
                    return
                time.sleep(0.3)
            say(f"{self.name} did not come back within {wait:.0f} s\n", "stderr")
        finally:
            if mounted is not None:  # not back yet: remounted when it is
                self.mount = mounted

    def _remounted(self, server: MountServer | None, say: Say) -> MountServer | None:
        """`%mount` again on a board that came back (it lost the mount)."""
        if server is None or self.device is None:
            return None
        try:
            server.reattach(self.device)
        except IotKernelError as exc:
            server.close()
            say(f"could not mount {server.root} again: {exc}\n", "stderr")
            return None
        say(f"{server.root} mounted at {server.at} again\n", "stdout")
        return server

    def _reopened_same_board(self) -> bool:
        if self.device is None or self.url is None:
            return False
        if not reopen_same_board(self.device, self.uid, timeout=1.0):
            return False
        self.lost = False
        return True

    def _found_same_board(self, registry: Registry) -> bool:
        if self.uid is None:
            return False
        registry.discover(load_settings(), timeout=1.0)
        for record in registry.records:
            if record.uid == self.uid and record.urls:
                self.connect(
                    record.urls[0],
                    name=self.name,
                    expect_uid=self.uid,
                    advertised=record.urls[0] in record.advertised,
                    known_hosts=registry.known_hosts,
                )
                return True
        return False

    def close(self) -> None:
        if self.mount is not None:
            self.mount.close()  # unfinished writes of the board dropped
            self.mount = None
        if self.device is not None:
            with contextlib.suppress(Exception):
                self.device.close()
        self.device = None

    # -- remembering per notebook

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _remember(self, target: str) -> None:
        key = notebook_key()
        if key is None:
            return
        data = self._load()
        data[key] = target
        with contextlib.suppress(OSError):
            atomic_write(self._state_file, json.dumps(data, indent=1))

    def remembered(self) -> tuple[str, list[str]] | None:
        """(target, schemes) of the board this notebook used last, if known."""
        key = notebook_key()
        entry = None if key is None else self._load().get(key)
        if entry is None:
            return None
        try:
            data = json.loads(entry)
            return str(data["target"]), [str(s) for s in data.get("schemes", [])]
        except (ValueError, KeyError, TypeError):
            return entry, []
