"""The contract suite, unchanged, on the board under test: the same test
classes as tests/contract/, run with hil's `backend` (the board given by URL,
the virtual serial board, or a QEMU board)."""

from tests.contract.test_exec import TestExecContract
from tests.contract.test_faults import TestFaultContract

__all__ = ["TestExecContract", "TestFaultContract"]
