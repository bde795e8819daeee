"""Suite-wide settings.

Hypothesis runs derandomized (the same examples every run, so a failure is reproducible
and CI is not flaky), without a deadline (a loaded CI machine must not fail a property for
being slow) and without an example database (nothing written into the checkout). Example
counts are set per test, small enough to keep the whole suite fast.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("nanobanana", deadline=None, derandomize=True, database=None)
settings.load_profile("nanobanana")

# The CLI shares its pacing through a ledger under $XDG_RUNTIME_DIR (else $TMPDIR). Every
# CLI run a test starts inherits this environment, so point it at a folder of the suite's
# own: the tests never read or write the user's real ledger.
_RUNTIME = tempfile.mkdtemp(prefix="nanobanana-tests-runtime-")
os.environ["XDG_RUNTIME_DIR"] = _RUNTIME
atexit.register(shutil.rmtree, _RUNTIME, True)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared, empty base directory for config tests that only read the file system.

    Every config test passes ``env=`` and ``base_dir=`` explicitly: nothing reads or changes
    the real environment or working directory.
    """
    return tmp_path_factory.mktemp("base")
