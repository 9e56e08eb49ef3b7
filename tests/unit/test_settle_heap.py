"""What start-up built is frozen out of the cyclic collector's walks."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from services.runtime.service import settle_heap


class Node:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_what_lives_at_start_up_is_frozen_and_its_garbage_collected_first(unfrozen: None) -> None:
    reference_data = [{"unit": f"000.{i:02d}.01.H99"} for i in range(1000)]
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage  # a cycle only the collector frees
    settle_heap()
    assert gone() is None  # collected, not frozen for the life of the process
    assert gc.get_freeze_count() >= len(reference_data)
    walked = gc.get_objects(generation=2)
    assert all(o is not reference_data[0] for o in walked)  # never walked again
    later = Node()
    assert any(o is later for o in gc.get_objects(generation=0))  # collected as usual
