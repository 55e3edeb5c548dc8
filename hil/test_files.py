"""The file and rsync contract tests, unchanged, on the board under test."""

from tests.contract.test_files import TestFileContract
from tests.contract.test_sync import TestSyncContract

__all__ = ["TestFileContract", "TestSyncContract"]
