"""Fault smoke test: faults on the link end in a correct result or a typed error.

Bytes are dropped, flipped, duplicated, delayed or the link is cut, in both
directions, seeded. `eval` is integrity-checked both ways (CRC-32 of the
request and the reply), so no fault may turn into a wrong value, and every
operation ends within its bounds: never a hang.
"""

from __future__ import annotations

import random
import time
from collections import Counter

import pytest

from fakes.faults import FaultyTransport
from iotkernel.device import Device
from iotkernel.errors import DeviceException, IotKernelError
from iotkernel.transport import open_transport

from ..backends import Backend

# hil/ re-runs this suite on the board under test (--leave-to-hil).
pytestmark = pytest.mark.hil_suite

IDLE = 0.3
DEADLINE = 3.0
# One operation may spend: its deadline, 2 s stopping the code, and a resync
# (its own deadline) before it.
BOUND = 2 * DEADLINE + 2.5
# The backends that are the unix-port MicroPython.
UNIX_PORT = ("unix", "vserial", "webrepl")


class TestFaultContract:
    "Random faults on the link: every operation ends in a result or a typed error, in bounded time."

    def test_faults_give_a_correct_result_or_a_typed_error(self, backend: Backend) -> None:
        transport_options = {
            k: v for k, v in backend.options.items() if k not in ("idle_timeout", "deadline")
        }
        rng = random.Random(2024)
        outcomes: Counter[str] = Counter()
        # Every seed opens a new link. Through ser2net that costs ~2 s of
        # pyserial's RFC 2217 negotiation and close, so network links take fewer.
        seeds = 8 if backend.url.startswith(("rfc2217://", "socket://")) else 25
        for seed in range(seeds):
            faulty = FaultyTransport(
                open_transport(backend.url, **transport_options), seed=seed, rate=0.1
            )
            device = Device(faulty, idle_timeout=IDLE, deadline=DEADLINE)
            try:
                for _ in range(6):
                    k, n = rng.randrange(1000), rng.randrange(1, 40)
                    start = time.monotonic()
                    try:
                        value = device.eval(f"[i * {k} for i in range({n})]")
                    except IotKernelError as exc:
                        outcomes[type(exc).__name__] += 1
                    else:
                        assert value == [i * k for i in range(n)], f"seed {seed}: {faulty.faults}"
                        outcomes["correct"] += 1
                    elapsed = time.monotonic() - start
                    assert elapsed < BOUND, f"seed {seed}: {elapsed:.1f}s {faulty.faults}"
            finally:
                device.close()
        assert sum(outcomes.values()) - outcomes["correct"] > 0, "no fault ever hit"
        # Whatever the faults did, the board works on a clean link afterwards.
        with backend.open() as clean:
            try:
                value = clean.eval("[i * 3 for i in range(4)]")
            except DeviceException as exc:
                # The unix port raises KeyboardInterrupt straight from its SIGINT
                # handler (MICROPY_ASYNC_KBD_INTR): a Ctrl-C among the faults that
                # lands inside a garbage collection leaves its heap locked for
                # good. Bare-metal firmware checks for Ctrl-C between bytecodes.
                if "heap is locked" not in exc.message or backend.name not in UNIX_PORT:
                    raise
                clean.soft_reset()  # a fresh interpreter, as a user would do
                value = clean.eval("[i * 3 for i in range(4)]")
            assert value == [0, 3, 6, 9], outcomes
