import os

import pytest

# Keep tests on 2 cores predictable: one torch thread per process unless the user says otherwise.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def embedded_dir(tmp_path_factory):
    """The embedded datasets (except the slow corrupted one), prepared once per test session."""
    from interprobust.data.embedded import prepare_embedded
    root = tmp_path_factory.mktemp("embedded")
    for name in ("digits", "digits_rgb32", "digits_rgb32_spurious"):
        prepare_embedded(name, root / name, seed=0)
    return root
