"""The SCRAM test broker's cluster id is one Kafka's storage tool accepts."""

from __future__ import annotations

import uuid

import pytest

from tests.support.scram_broker import kraft_cluster_id

# 0xF8 puts 0b111110 (62, "-" in URL-safe base64) in the id's first character.
DASH_FIRST = uuid.UUID(bytes=b"\xf8" + bytes(15))
PLAIN = uuid.UUID(bytes=bytes(16))


def test_an_id_that_would_start_with_a_dash_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    draws = iter([DASH_FIRST, DASH_FIRST, PLAIN])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))

    cluster_id = kraft_cluster_id()

    assert cluster_id == "AAAAAAAAAAAAAAAAAAAAAA"
    assert next(draws, None) is None, "stopped at the first id without a leading dash"


def test_ids_are_22_url_safe_characters() -> None:
    for _ in range(500):
        cluster_id = kraft_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert set(cluster_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
