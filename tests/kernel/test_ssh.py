"""%%ssh against an OpenSSH server started on loopback with throwaway keys."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..backends import IN_CI
from .test_kernel import Kernel

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    if not (os.path.exists(SSHD) and shutil.which("ssh")):
        if IN_CI:
            pytest.fail("CI installs openssh-server: sshd must be there")
        pytest.skip("OpenSSH server not installed (apt-get install openssh-server)")
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True
        )
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    (keys / "authorized_keys").chmod(0o600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = keys / "sshd_config"
    config.write_text(
        f"ListenAddress 127.0.0.1\nPort {port}\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\n"
        f"PidFile {keys / 'sshd.pid'}\nStrictModes no\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    client = keys / "client_config"
    client.write_text(
        f"Host rig\n  HostName 127.0.0.1\n  Port {port}\n  User {getpass.getuser()}\n"
        f"  IdentityFile {keys / 'client'}\n  StrictHostKeyChecking no\n"
        f"  UserKnownHostsFile {keys / 'known_hosts'}\n  LogLevel ERROR\n"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    try:
        yield port, client
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_ssh_runs_the_cell_remotely(sshd: tuple[int, Path]) -> None:
    _port, client = sshd
    k = Kernel()
    try:
        run = k.run(f'%%ssh -F {client} rig\necho "it\'s $((40 + 2))"\necho second', timeout=60)
        assert run.status == "ok", (run.reply, run.stream())
        assert run.stream() == "it's 42\nsecond\n"
        failed = k.run(f"%%ssh -F {client} rig\nexit 5", timeout=60)
        assert failed.status == "error" and "exit status 5" in failed.reply["evalue"]
        unreachable = k.run("%%ssh -p 9 127.0.0.1\ntrue", timeout=60)
        assert unreachable.status == "error"
        assert k.run("%%host\n'still usable'").status == "ok"
    finally:
        k.stop()
