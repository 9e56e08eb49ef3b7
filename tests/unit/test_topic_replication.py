"""How many copies the topics get: from the settings, else from the broker count."""

from __future__ import annotations

import pytest

from services.runtime.setup import Replication, replication_for


@pytest.mark.parametrize(
    ("brokers", "expected"),
    [
        (1, Replication(1, 1)),  # the development broker
        (2, Replication(2, 1)),  # two copies: one lost still takes writes
        (3, Replication(3, 2)),  # the cluster: acks=all needs two of three
        (5, Replication(3, 2)),  # more brokers spread partitions, not copies
    ],
)
def test_the_broker_count_decides_when_nothing_is_set(brokers: int, expected: Replication) -> None:
    assert replication_for(brokers) == expected


def test_the_settings_win_over_the_broker_count() -> None:
    assert replication_for(5, factor=5, min_insync=3) == Replication(5, 3)
    assert replication_for(3, min_insync=1) == Replication(3, 1)


def test_a_replication_the_cluster_cannot_meet_is_refused_before_any_topic_exists() -> None:
    with pytest.raises(ValueError, match="needs 3 brokers"):
        replication_for(1, factor=3)
    with pytest.raises(ValueError, match="above the replication factor"):
        replication_for(3, factor=2, min_insync=3)
