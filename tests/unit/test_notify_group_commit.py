"""Notify's grouping of one-at-a-time work, and the e-mail it builds without the
standard library's slow header machinery."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Sequence

import pytest

from services.notify.adapters.email import SmtpSender, mime_bytes, stable_msgid
from services.notify.batching import Coalescer

SENDER = "Một cửa điện tử <motcua@onestop.local>"
SUBJECT = "Hồ sơ 000.01.01.H99-261122-0001 đã được tiếp nhận và đang được giải quyết đúng hạn"
TEXT = "Kính gửi Nguyễn Văn An,\nhồ sơ của Ông/Bà đã được tiếp nhận.\n" * 20
HTML = "<p>Kính gửi <b>Nguyễn Văn An</b>, hồ sơ đã được tiếp nhận.</p>"


async def test_receipts_arriving_together_are_handled_in_one_batch() -> None:
    batches: list[list[int]] = []

    async def run(items: Sequence[int]) -> list[int]:
        batches.append(list(items))
        return [i * 10 for i in items]

    group: Coalescer[int, int] = Coalescer(run, linger=0.01)
    answers = await asyncio.gather(*(group.submit(i) for i in range(50)))
    await group.close()
    assert answers == [i * 10 for i in range(50)]  # each caller gets its own answer
    assert batches == [list(range(50))]  # one call for all of them


async def test_one_bad_item_fails_only_its_own_caller() -> None:
    calls: list[list[int]] = []

    async def run(items: Sequence[int]) -> list[str]:
        calls.append(list(items))
        if 3 in items:
            raise ValueError("the third receipt cannot be written")
        return [f"ok {i}" for i in items]

    group: Coalescer[int, str] = Coalescer(run, linger=0.01)
    results = await asyncio.gather(*(group.submit(i) for i in range(6)), return_exceptions=True)
    await group.close()
    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [f"ok {i}" for i in (0, 1, 2, 4, 5)]
    # The batch failed once, then every item ran alone: the good ones exactly once more.
    assert calls[0] == list(range(6))
    assert calls[1:] == [[i] for i in range(6)]


async def test_a_wrong_number_of_results_fails_the_batch_not_the_loop() -> None:
    async def run(items: Sequence[int]) -> list[int]:
        return [1] if len(items) > 1 else [len(items)]

    group: Coalescer[int, int] = Coalescer(run, linger=0.01)
    results = await asyncio.gather(*(group.submit(i) for i in range(3)))
    assert results == [1, 1, 1]  # each run again alone
    assert await group.submit(9) == 1  # and the group still serves
    await group.close()


@pytest.mark.parametrize("html", [HTML, None])
def test_the_email_built_directly_reads_as_the_library_would_build_it(html: str | None) -> None:
    raw = mime_bytes(
        SmtpSender("127.0.0.1", 25, SENDER)._header_from,  # what the sender puts in From
        "6f1c2b8e-3c41-4c55-9d1a-0c9e3b7a1f20",
        "an12@example.vn",
        SUBJECT,
        TEXT,
        html,
    )
    assert raw is not None
    assert raw.isascii()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))  # RFC 5322 line limit
    direct = email.message_from_bytes(raw, policy=email.policy.default)
    library = email.message_from_bytes(
        SmtpSender.build(
            SENDER, "6f1c2b8e-3c41-4c55-9d1a-0c9e3b7a1f20", "an12@example.vn", SUBJECT, TEXT, html
        ).as_bytes(),
        policy=email.policy.default,
    )
    assert not direct.defects and all(not p.defects for p in direct.walk())
    for header in ("From", "To", "Subject", "Message-ID", "X-Onestop-Message-Id"):
        assert str(direct[header]) == str(library[header]), header
    assert direct["Message-ID"] == stable_msgid("6f1c2b8e-3c41-4c55-9d1a-0c9e3b7a1f20")
    for kind in ("plain", "html"):
        ours, theirs = direct.get_body((kind,)), library.get_body((kind,))
        assert (ours is None) == (theirs is None)
        if ours is not None and theirs is not None:
            assert ours.get_content() == theirs.get_content()


@pytest.mark.parametrize(
    "to",
    ["an@example.vn\r\nBcc: victim@example.com", "nguyễn@ví-dụ.vn", "an @example.vn", ""],
)
def test_an_address_that_could_break_a_header_is_left_to_the_library(to: str) -> None:
    # Injected header lines, non-ASCII mailboxes and spaces never reach the fast path.
    assert mime_bytes("motcua@onestop.local", "id-1", to, SUBJECT, TEXT, None) is None
