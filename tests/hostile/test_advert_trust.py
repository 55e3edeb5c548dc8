"""A UDP advertisement only lists a board; a password goes only to a host
the user named or trusted. Anybody on the network can send an
advertisement naming a configured board's uid and a host of theirs: it is a
warning when the uid is known at another host (configured, or trusted on
first use as SSH's known_hosts), `default` never goes to a host only an
advertisement named, a password keyed by the device's name works on that
path, and a board answering with another uid after login is disconnected
before any cell runs. Real WebREPL endpoints (the bridge, unix-port
MicroPython behind it) on loopback; the "other host" is another port."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes.webrepl_bridge import WebReplBridge
from iotkernel.knownhosts import host_of

from ..backends import require_unix_port
from ..kernel.jupyter_env import free_udp_port
from ..kernel.test_kernel import Kernel

DEFAULT_PASSWORD = "default-pw"
ALPHA_PASSWORD = "alpha-pw"


@dataclass
class Network:
    tmp_path: Path
    alpha: WebReplBridge  # the real board alpha, uid a0a0, configured with its URL
    rogue: WebReplBridge  # another host, posing as boards (its own uid is a0ff)
    advert_port: int
    secrets: Path

    def kernel(self) -> Kernel:
        return Kernel(
            env={
                "IOT_PROJECTS": str(self.tmp_path / "projects"),
                "IOT_SETTINGS": str(self.tmp_path / "iotkernel.yaml"),
                "IOT_SECRETS": str(self.secrets),
                "XDG_DATA_HOME": str(self.tmp_path / "xdg"),
            }
        )

    def advertise(self, url: str, uid: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(f"{url}\n{uid}".encode(), ("127.0.0.1", self.advert_port))

    def known_hosts(self) -> dict[str, str]:
        path = self.tmp_path / "xdg" / "iotkernel" / "known_hosts.json"
        return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    require_unix_port()
    alpha = WebReplBridge(password=ALPHA_PASSWORD, board_dir=tmp_path / "a", uid=b"\xa0\xa0")
    rogue = WebReplBridge(password="rogue", board_dir=tmp_path / "r", uid=b"\xa0\xff")
    alpha.start()
    rogue.start()
    port = free_udp_port()
    (tmp_path / "projects" / "devices").mkdir(parents=True)
    (tmp_path / "projects" / "devices" / "net.yaml").write_text(
        f"alpha:\n  uid: a0a0\n  url: {alpha.url}\ngamma:\n  uid: a0ff\n"
    )
    (tmp_path / "iotkernel.yaml").write_text(
        f"advert-bind: 127.0.0.1\nadvert-port: {port}\nextra-ports: []\n"
    )
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text(f"webrepl:\n  default: {DEFAULT_PASSWORD}\n  alpha: {ALPHA_PASSWORD}\n")
    secrets.chmod(0o600)
    try:
        yield Network(tmp_path, alpha, rogue, port, secrets)
    finally:
        rogue.stop()
        alpha.stop()


def test_an_advert_of_a_configured_board_from_another_host_is_a_warning(
    network: Network,
) -> None:
    k = network.kernel()
    try:
        network.advertise(network.rogue.url, "a0a0")  # "I am alpha"
        run = k.run("%discover")
        assert "warning: an advertisement names board alpha" in run.stream("stderr")
        assert network.rogue.url not in run.stream()
        run = k.run("%connect alpha ws", timeout=30)
        assert run.status == "error"  # the advertised URL is not alpha's: no such board
        assert network.rogue.passwords_received == []
        run = k.run(f"%connect {network.alpha.url}", timeout=30)  # typed: the user's word
        assert run.status == "ok", run.reply
        assert k.run("%uid").stream().strip() == "a0a0"
    finally:
        k.stop()
    assert network.rogue.passwords_received == []


def test_default_never_goes_to_a_host_only_an_advertisement_named(network: Network) -> None:
    k = network.kernel()
    try:
        network.advertise(network.rogue.url, "a0ee")  # a board nobody configured
        run = k.run("%connect a0ee", timeout=30)
        assert run.status == "error" and run.reply["ename"] == "AuthenticationError", run.reply
        assert "`default` WebREPL password is not sent" in run.reply["evalue"]
        assert network.rogue.passwords_received == []
        assert network.known_hosts() == {}
    finally:
        k.stop()


def test_a_board_answering_with_another_uid_is_dropped_before_any_cell(network: Network) -> None:
    """An advertisement says gamma (uid a0ff) is at alpha's host, where board
    a0a0 answers (and happens to take gamma's password)."""
    network.secrets.write_text(
        f"webrepl:\n  default: {DEFAULT_PASSWORD}\n  gamma: {ALPHA_PASSWORD}\n"
    )
    k = network.kernel()
    try:
        network.advertise(network.alpha.url, "a0ff")
        run = k.run("%connect gamma", timeout=30)
        assert run.status == "error" and run.reply["ename"] == "UnexpectedBoardError", run.reply
        assert "a0a0" in run.reply["evalue"] and "before any cell ran" in run.reply["evalue"]
        cell = k.run("print('where am I')", timeout=30)
        assert cell.status == "error" and "where am I" not in cell.stream()
        assert network.known_hosts() == {}
    finally:
        k.stop()


def test_trust_on_first_use_then_another_host_is_a_warning(network: Network) -> None:
    """gamma (uid a0ff) is configured without a URL: the first advertised host
    that answers as a0ff gets gamma's password (by name) and is remembered;
    a later advertisement of a0ff from elsewhere is never used."""
    network.secrets.write_text(f"webrepl:\n  default: {DEFAULT_PASSWORD}\n  gamma: rogue\n")
    k = network.kernel()
    try:
        network.advertise(network.rogue.url, "a0ff")
        run = k.run("%connect gamma", timeout=30)
        assert run.status == "ok", run.reply
        assert "trusted from now on" in run.stream("stderr")
        assert network.known_hosts() == {"a0ff": host_of(network.rogue.url)}
        assert network.rogue.passwords_received == ["rogue"]  # by name, not `default`
        network.advertise(network.alpha.url, "a0ff")
        run = k.run("%discover")
        assert "warning: an advertisement names board gamma" in run.stream("stderr")
        assert network.alpha.passwords_received == []
    finally:
        k.stop()
