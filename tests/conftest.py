import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def run_xsd():
    """Run the `xsd` command line in a subprocess; returns the CompletedProcess."""
    def run(*args, env=None, timeout=600):
        return subprocess.run(
            [sys.executable, "-m", "xsd", *map(str, args)], cwd=REPO, text=True,
            capture_output=True, timeout=timeout, env={**os.environ, **(env or {})},
        )
    return run
