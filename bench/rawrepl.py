"""The smallest raw-REPL client, for benchmarks to measure against: write
the source and Ctrl-D, read to the closing `\\x04>`. No flow control beyond
the port's own, no checks: the floor a library's exec is compared with."""

from __future__ import annotations

import time

import serial


class RawRepl:
    def __init__(self, path: str, timeout: float = 10.0) -> None:
        self.port = serial.Serial(path, timeout=timeout)
        self.port.write(b"\r\x03\x03")
        time.sleep(0.3)
        self.port.reset_input_buffer()
        self.port.write(b"\x01")
        self.port.read_until(b"raw REPL; CTRL-B to exit\r\n>")

    def exec(self, code: bytes) -> bytes:
        """The raw reply: `OK`, stdout, `\\x04`, stderr, `\\x04>`."""
        self.port.write(code + b"\x04")
        reply = self.port.read_until(b"\x04>")
        if not reply.endswith(b"\x04>"):
            raise TimeoutError(f"no answer to {code[:40]!r}: {reply[-80:]!r}")
        return reply

    def run(self, code: bytes) -> tuple[bytes, bytes]:
        """stdout and stderr of `code`. Code ended by SystemExit makes
        firmware soft-reset: the frames end `\x04\x04`, then the raw banner."""
        self.port.write(code + b"\x04")
        reply = b""
        while not reply.endswith((b"\x04>", b"raw REPL; CTRL-B to exit\r\n>")):
            chunk = self.port.read_until(b">")
            if not chunk.endswith(b">"):
                raise TimeoutError(f"no answer to {code[:40]!r}: {(reply + chunk)[-80:]!r}")
            reply += chunk
        cut = reply.find(b"\x04\x04MPY: soft reboot")
        if cut >= 0:
            reply = reply[: cut + 2] + b">"
        body = reply[2:-2] if reply.startswith(b"OK") else reply[:-2]
        stdout, _, stderr = body.partition(b"\x04")
        return stdout, stderr

    def soft_reset(self) -> None:
        self.port.write(b"\x04")
        self.port.read_until(b"raw REPL; CTRL-B to exit\r\n>")

    def close(self) -> None:
        self.port.close()
