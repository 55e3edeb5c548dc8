"""The file, rsync and mount contract tests, unchanged, on the board under test."""

from tests.contract.test_files import TestFileContract
from tests.contract.test_mount import TestMountContract
from tests.contract.test_sync import TestCompiledSyncContract, TestSyncContract

__all__ = ["TestCompiledSyncContract", "TestFileContract", "TestMountContract", "TestSyncContract"]
