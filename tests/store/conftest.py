"""The store's own tests: a database opened in this process on a fake clock that moves only when told
(the tests of the whole product use tests/conftest.py's, which also ticks and sets up a folder)."""

from __future__ import annotations

import pytest

from psflow.store import Store, open_store
from support.clock import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Store:
    with open_store(db_url, clock=clock) as opened:
        yield opened
