"""The file and rsync contract tests, unchanged, on the board under test
(apart from the rig test, which proves the farm with the exec suite)."""

from tests.contract.test_files import *  # noqa: F403
from tests.contract.test_sync import *  # noqa: F403
