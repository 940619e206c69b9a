"""Shared test fixtures. The package is imported from src/ even when it is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (where the Snakefile is)."""
    return ROOT


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """Small batched torch calls are fastest on one thread, and CI machines have 2 shared cores
    (oversubscribed threads made some tests 20x slower)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


#: Test files that take minutes (a pipeline run each), run first: under `make test`'s pytest-xdist
#: (`--dist loadfile --no-loadscope-reorder`: whole files, in collection order) they then overlap
#: the many short files instead of finishing last on one worker.
LONG_FILES = ("test_cluster.py", "test_workflow.py", "test_reliability.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move the tests of :data:`LONG_FILES` to the front (stable: the order within files is kept)."""
    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))
