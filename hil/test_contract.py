"""The contract suite, unchanged, on the board under test."""

from tests.contract.test_exec import *  # noqa: F403
from tests.contract.test_faults import *  # noqa: F403
