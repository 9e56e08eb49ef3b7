"""Pure rules of a group commit: who leads an idempotency key, who gets which number."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)


def key_leaders(keys: Sequence[K | None]) -> list[int]:
    """For each submission of a batch, the index of the one that speaks for its
    idempotency key: the first with that key (itself when keyless or first)."""
    first: dict[K, int] = {}
    leaders = []
    for i, key in enumerate(keys):
        if key is None:
            leaders.append(i)
        else:
            leaders.append(first.setdefault(key, i))
    return leaders


def counts(groups: Sequence[K]) -> dict[K, int]:
    """How many numbers each group (agency and day) needs, in first-seen order."""
    needed: dict[K, int] = {}
    for group in groups:
        needed[group] = needed.get(group, 0) + 1
    return needed


def numbers(groups: Sequence[K], last_values: Mapping[K, int]) -> list[int]:
    """Consecutive numbers per group in batch order, ending at each group's new last value
    (what the sequence row holds after adding the group's count)."""
    needed = counts(groups)
    next_value = {group: last_values[group] - n + 1 for group, n in needed.items()}
    out = []
    for group in groups:
        out.append(next_value[group])
        next_value[group] += 1
    return out


def replays(digest: str, stored_digest: str) -> bool:
    """A retry with the same body gets the stored answer; another body is a conflict."""
    return digest == stored_digest
