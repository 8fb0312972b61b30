"""Opt-in: the SLURM profile against a real single-node SLURM started on this machine (root, Debian).

Runs only with INTERPROBUST_SLURM_TEST=1 (it installs packages and starts system daemons):
    INTERPROBUST_SLURM_TEST=1 pytest -q tests/test_slurm.py      (or: bash tests/slurm/run.sh)
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(os.environ.get("INTERPROBUST_SLURM_TEST") != "1",
                    reason="opt-in: set INTERPROBUST_SLURM_TEST=1 (needs root; starts slurmctld, slurmd, munged)")
def test_embedded_overview_runs_through_sbatch():
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run(["bash", str(ROOT / "tests/slurm/run.sh")], env=env, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "has been submitted with SLURM jobid" in proc.stdout and "SLURM test passed" in proc.stdout
