"""Notify's decisions without PostgreSQL: which messages an event makes, whether a due
message goes now, waits or is dropped, when a failed one is tried again, and how a
batch of status reports folds onto the stored statuses."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from uuid import UUID, uuid4

import pytest

from contracts.envelope import EventEnvelope
from contracts.vietnam import VN_TZ
from services.notify.domain.admission import (
    MAX_LEASE_EXPIRIES,
    Admission,
    AdmissionRules,
    Candidate,
    Verdict,
    admit,
    admit_batch,
)
from services.notify.domain.lifecycle import (
    DeliveryStatus,
    RetryPolicy,
    plan_retry,
    retry_delay,
    retry_schedule,
)
from services.notify.domain.model import ClaimedMessage, DossierFacts, Prefs, Rules, StatusChange
from services.notify.domain.outcome import failed, fell_back, merge, sent
from services.notify.domain.plan import (
    LINK_PLACEHOLDER,
    PENDING_CONTACT,
    event_unit,
    plan,
    sms_fallback,
    stale_contact_refs,
)
from services.notify.domain.rate_limit import RateLimit

S = DeliveryStatus
CODE = "000.01.01.H99-261122-0001"
UNIT = "000.01.01.H99"
RULES = Rules(
    procedure_names={"1.001193": "Đăng ký khai sinh"},
    unit_names={UNIT: "Ủy ban nhân dân xã Đông Lâm"},
    document_names={"1.001193": {"GCS": "Giấy chứng sinh"}},
    quiet_window=(time(22, 0), time(7, 0)),
)
NOON = datetime(2026, 11, 23, 12, 0, tzinfo=VN_TZ)
NIGHT = datetime(2026, 11, 23, 23, 0, tzinfo=VN_TZ)


def sequential() -> Callable[[], UUID]:
    counter = itertools.count(1)
    return lambda: UUID(int=next(counter))


def received(contact_ref: str = "ref-1") -> EventEnvelope:
    dossier = uuid4()
    return EventEnvelope(
        event_type="dossier.received",
        dossier_id=dossier,
        correlation_id=dossier,
        producer="intake",
        payload={
            "dossier_code": CODE,
            "procedure_code": "1.001193",
            "receiving_unit": UNIT,
            "appointment_at": "2026-11-25T02:00:00+00:00",
            "contact_ref": contact_ref,
        },
    )


def routing_event(event_type: str, dossier: UUID, **payload: object) -> EventEnvelope:
    return EventEnvelope(
        event_type=event_type,
        dossier_id=dossier,
        correlation_id=dossier,
        producer="routing",
        payload={"dossier_code": CODE, **payload},
    )


# --- plan ---------------------------------------------------------------------------------


def test_a_received_dossier_makes_an_email_and_a_zalo_message_due_now() -> None:
    messages = plan(received(), None, Prefs(), NOON, RULES, new_id=sequential())
    assert [(m.channel, m.template_id, m.template_version) for m in messages] == [
        ("email", "dossier.received.email", 2),
        ("zalo", "dossier.received.zalo", 2),
    ]
    assert all(m.send_at == NOON and m.contact_ref == "ref-1" for m in messages)
    assert all(m.unit_code == UNIT for m in messages)
    email = messages[0]
    assert email.subject == f"Đã tiếp nhận hồ sơ {CODE}"
    assert "Đăng ký khai sinh" in email.body_text and "25/11/2026" in email.body_text
    assert email.params == {
        "dossier_code": CODE,
        "procedure_code": "1.001193",
        "appointment_date": "2026-11-25",
    }


def test_opt_outs_and_zalo_switched_off_choose_the_phone_channel() -> None:
    def channels(prefs: Prefs) -> list[str]:
        return [m.channel for m in plan(received(), None, prefs, NOON, RULES)]

    assert channels(Prefs(frozenset({"zalo"}))) == ["email", "sms"]
    assert channels(Prefs(zalo_enabled=False)) == ["email", "sms"]
    assert channels(Prefs(frozenset({"email", "zalo", "sms"}))) == []
    assert channels(Prefs(frozenset({"email"}), zalo_enabled=False)) == ["sms"]


def test_at_night_the_phone_message_waits_for_the_morning_and_email_goes() -> None:
    email, zalo = plan(received(), None, Prefs(), NIGHT, RULES)
    assert email.send_at == NIGHT
    assert zalo.send_at == datetime(2026, 11, 24, 7, 0, tzinfo=VN_TZ)


def test_a_routing_event_uses_the_remembered_facts_and_names_the_missing_papers() -> None:
    dossier = uuid4()
    facts = DossierFacts(CODE, "1.001193", UNIT, "ref-9")
    event = routing_event("dossier.supplement_requested", dossier, missing_documents=["GCS", "X"])
    messages = plan(event, facts, Prefs(), NOON, RULES)
    assert {m.contact_ref for m in messages} == {"ref-9"}
    assert {m.unit_code for m in messages} == {UNIT}
    assert messages[0].params["missing_papers"] == ["Giấy chứng sinh", "X"]
    assert messages[0].params["procedure_code"] == "1.001193"


def test_an_event_before_its_dossier_was_seen_waits_for_its_contact_not_the_dossier_id() -> None:
    dossier = uuid4()
    messages = plan(routing_event("dossier.result_ready", dossier), None, Prefs(), NOON, RULES)
    assert messages and {m.contact_ref for m in messages} == {PENDING_CONTACT}
    assert all(str(dossier) not in m.contact_ref for m in messages)
    assert "thủ tục hành chính" in messages[0].body_text  # procedure unknown yet


def test_the_stored_preview_holds_a_placeholder_not_the_signed_opt_out_link() -> None:
    email, zalo = plan(received(), None, Prefs(), NOON, RULES)
    assert "opt_out_url" not in email.params and "citizen_name" not in email.params
    assert LINK_PLACEHOLDER in email.body_text and "/o/" not in email.body_text
    assert LINK_PLACEHOLDER in zalo.body_text


def test_a_new_contact_ref_replaces_the_one_known_and_the_dossier_id() -> None:
    dossier = uuid4()
    assert stale_contact_refs(dossier, "old-ref", "new-ref") == sorted(["old-ref", str(dossier)])
    assert stale_contact_refs(dossier, "new-ref", "new-ref") == [str(dossier)]
    assert stale_contact_refs(dossier, None, "new-ref") == [str(dossier)]


def test_the_unit_of_an_event_is_its_own_else_the_dossiers_receiving_unit() -> None:
    dossier = uuid4()
    facts = DossierFacts(CODE, "1.001193", UNIT, "ref-9")
    assert event_unit(received(), None, RULES) == UNIT
    assert event_unit(routing_event("dossier.result_ready", dossier), facts, RULES) == UNIT
    assert event_unit(routing_event("dossier.result_ready", dossier), None, RULES) is None
    other = routing_event("dossier.result_ready", dossier, unit_code="000.02.01.H99")
    assert event_unit(other, facts, RULES) == "000.02.01.H99"


def test_the_apology_keeps_the_citizen_name_out_of_what_is_stored() -> None:
    dossier = uuid4()
    event = EventEnvelope(
        event_type="apology.issued",
        dossier_id=dossier,
        correlation_id=dossier,
        producer="sla",
        payload={
            "dossier_code": CODE,
            "responsible_unit": UNIT,
            "reason": "cần xác minh",
            "new_appointment_at": "2026-11-27T02:00:00+00:00",
        },
    )
    email = plan(event, None, Prefs(), NOON, RULES)[0]
    assert "citizen_name" not in email.params
    assert "Kính gửi Ông/Bà ***," in email.body_text
    assert email.params["responsible_unit"] == "Ủy ban nhân dân xã Đông Lâm"


def test_a_broken_event_is_refused_at_planning_not_at_every_send() -> None:
    dossier = uuid4()
    broken = routing_event("dossier.obligation_requested", dossier, amount_vnd="không có")
    with pytest.raises(ValueError, match="invalid literal"):
        plan(broken, None, Prefs(), NOON, RULES)


# --- admission ----------------------------------------------------------------------------

POLICY = AdmissionRules(RULES, (RateLimit(2, timedelta(minutes=10)),), max_attempts=5)


def due(
    channel: str = "sms",
    *,
    status: DeliveryStatus = S.CREATED,
    unit: str = UNIT,
    attempts: int = 0,
    lease_expiries: int = 0,
) -> Candidate:
    return Candidate("ref-1", channel, unit, status, attempts, lease_expiries)


def test_a_due_message_goes_now_unless_opted_out_quiet_or_over_the_limit() -> None:
    assert admit(due(), NOON, opted_out=False, recent_sends=[], policy=POLICY) == Admission(
        Verdict.SEND
    )
    dropped = admit(due(), NOON, opted_out=True, recent_sends=[], policy=POLICY)
    assert (dropped.verdict, dropped.reason) == (Verdict.DROP, "opted out")
    quiet = admit(due(), NIGHT, opted_out=False, recent_sends=[], policy=POLICY)
    assert quiet == Admission(
        Verdict.HOLD, until=datetime(2026, 11, 24, 7, tzinfo=VN_TZ), reason="quiet hours"
    )
    email = admit(due("email"), NIGHT, opted_out=False, recent_sends=[], policy=POLICY)
    assert email.verdict is Verdict.SEND
    two = [NOON - timedelta(minutes=1), NOON - timedelta(minutes=4)]
    limited = admit(due(), NOON, opted_out=False, recent_sends=two, policy=POLICY)
    assert limited == Admission(
        Verdict.HOLD, until=NOON + timedelta(minutes=6), reason="rate limit"
    )


def test_a_unit_without_quiet_hours_sends_at_night() -> None:
    rules = Rules(quiet_window=(time(22, 0), time(7, 0)), quiet_by_unit={"NIGHT-OWL": None})
    policy = AdmissionRules(rules, (), 5)
    night_owl = admit(due(unit="NIGHT-OWL"), NIGHT, opted_out=False, recent_sends=[], policy=policy)
    assert night_owl.verdict is Verdict.SEND


def test_sends_admitted_earlier_in_the_batch_count_against_the_limit() -> None:
    batch = [due(), due(), due(), due("email")]
    decisions = admit_batch(batch, NOON, opted_out=set(), recent_sends={}, policy=POLICY)
    assert [d.verdict for d in decisions] == [
        Verdict.SEND,
        Verdict.SEND,
        Verdict.HOLD,
        Verdict.SEND,
    ]
    assert decisions[2].until == NOON + timedelta(minutes=10)


def test_a_message_whose_lease_ran_out_is_resent_as_it_was_until_it_keeps_crashing() -> None:
    resent = admit(
        due(status=S.SENDING, attempts=1), NOON, opted_out=True, recent_sends=[], policy=POLICY
    )
    assert resent.verdict is Verdict.RESEND  # opt-out and limits were checked at its claim
    crashing = due(status=S.SENDING, attempts=2, lease_expiries=MAX_LEASE_EXPIRIES - 1)
    gave_up = admit(crashing, NOON, opted_out=False, recent_sends=[], policy=POLICY)
    assert gave_up.verdict is Verdict.GIVE_UP
    used_up = due(status=S.SENDING, attempts=5)
    assert admit(used_up, NOON, opted_out=False, recent_sends=[], policy=POLICY).verdict is (
        Verdict.GIVE_UP
    )


# --- retries for hours --------------------------------------------------------------------


def test_the_default_schedule_doubles_from_30_seconds_to_30_minutes_for_a_day() -> None:
    waits = retry_schedule(RetryPolicy())
    assert waits[:7] == [30, 60, 120, 240, 480, 960, 1800]
    assert set(waits[7:-1]) == {1800}
    assert sum(waits) == 24 * 3600  # the last try falls at the end of the window
    assert len(waits) < RetryPolicy().max_attempts


def test_each_retry_waits_between_half_and_all_of_its_step() -> None:
    policy = RetryPolicy()
    rng = random.Random(3)
    for attempt, step in enumerate(retry_schedule(policy)[:10], start=1):
        delay = retry_delay(attempt, policy, rng)
        assert step / 2 <= delay <= step


def test_a_day_after_the_first_failure_the_message_is_a_technical_failure() -> None:
    policy = RetryPolicy()
    rng = random.Random(1)
    late = plan_retry(40, retryable=True, policy=policy, rng=rng, elapsed_seconds=23.9 * 3600)
    assert late.status is S.TEMPORARY_FAILURE
    assert late.delay_seconds is not None and late.delay_seconds <= 0.1 * 3600 + 1e-6
    over = plan_retry(41, retryable=True, policy=policy, rng=rng, elapsed_seconds=24 * 3600)
    assert (over.status, over.delay_seconds) == (S.TECHNICAL_FAILURE, None)


def claimed(
    channel: str = "sms", attempts: int = 1, first_failure_at: datetime | None = None
) -> ClaimedMessage:
    return ClaimedMessage(
        id=uuid4(),
        event_id=uuid4(),
        event_type="dossier.received",
        channel=channel,
        contact_ref="ref-1",
        dossier_id=uuid4(),
        dossier_code=CODE,
        unit_code=UNIT,
        template_id=f"dossier.received.{channel}",
        template_version=1,
        params={
            "dossier_code": CODE,
            "procedure_code": "1.001193",
            "appointment_date": "2026-11-25",
        },
        trace_headers={},
        attempts=attempts,
        status=S.CREATED,
        provider=None,
        first_failure_at=first_failure_at,
    )


def test_a_failed_attempt_is_tried_again_later_counting_from_the_first_failure() -> None:
    now = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    policy = RetryPolicy()
    first = failed(
        claimed(), "http 503", retryable=True, now=now, policy=policy, rng=random.Random(0)
    )
    assert first.status is S.TEMPORARY_FAILURE and first.failure_at == now
    assert first.next_attempt_at is not None
    assert timedelta(seconds=15) <= first.next_attempt_at - now <= timedelta(seconds=30)
    assert first.detail == "attempt 1: http 503"
    started = now - timedelta(hours=25)
    message = claimed(attempts=50, first_failure_at=started)
    last = failed(message, "http 503", retryable=True, now=now, policy=policy, rng=random.Random(0))
    assert last.status is S.TECHNICAL_FAILURE and last.dead_letter and last.attempts == 50
    refused = failed(
        claimed(),
        "esms 108",
        retryable=False,
        recipient_rejected=True,
        now=now,
        policy=policy,
        rng=random.Random(0),
    )
    assert refused.status is S.PERMANENT_FAILURE and not refused.dead_letter


def test_zalo_that_cannot_carry_the_notice_hands_it_to_sms() -> None:
    message = claimed("zalo")
    change = fell_back(message, "zns -118", sms_fallback(message, RULES, NOON))
    assert change.status is S.PERMANENT_FAILURE
    assert change.detail == "zns -118; falling back to SMS"
    assert change.fallback is not None
    assert change.fallback.channel == "sms" and change.fallback.fallback_of == message.id
    assert change.fallback.event_id == message.event_id
    assert change.fallback.body_text.startswith(f"Ho so {CODE}")  # unaccented preview


# --- merging a batch of reports -----------------------------------------------------------


def test_a_batch_of_reports_folds_forward_only_and_in_order() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    stored = {a: S.SENDING, b: S.DELIVERED, c: S.TEMPORARY_FAILURE}
    changes = [
        StatusChange(a, S.SENT),
        StatusChange(b, S.PERMANENT_FAILURE),  # after delivery: changes nothing
        StatusChange(a, S.DELIVERED),
        StatusChange(a, S.SENT),  # late, repeated
        StatusChange(uuid4(), S.SENT),  # not ours
        StatusChange(c, S.SENDING),  # the retry
    ]
    merged = merge(stored, changes)
    assert [(m.before, m.after, m.changed) for m in merged] == [
        (S.SENDING, S.SENT, True),
        (S.DELIVERED, S.DELIVERED, False),
        (S.SENT, S.DELIVERED, True),
        (S.DELIVERED, S.DELIVERED, False),
        (S.TEMPORARY_FAILURE, S.SENDING, True),
    ]


def test_an_accepted_send_records_the_gateway_and_its_id() -> None:
    message = claimed()
    change = sent(message, "esms", "sms-1", {"traceparent": "00-ab-cd-01"})
    assert (change.status, change.provider, change.provider_message_id, change.sent) == (
        S.SENT,
        "esms",
        "sms-1",
        True,
    )
    assert change.detail == "accepted by esms"
    assert dict(change.trace_headers) == {"traceparent": "00-ab-cd-01"}
