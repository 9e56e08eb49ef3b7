"""Topic names, keys, partition counts and consumer groups: the one place they live."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TopicSpec(BaseModel):
    name: str
    partitions: int = Field(ge=1)
    key: str = Field(description="What the Kafka record key holds.")
    producer: str
    consumers: tuple[str, ...] = Field(description="Consumer group ids reading this topic.")
    description: str


DOSSIER_KEY = "dossier_id (UUID text), so one dossier's events stay in order"
UNIT_KEY = "unit_code, so one unit's assignments stay in order"

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(
        name="dossier.intake",
        partitions=6,
        key=DOSSIER_KEY,
        producer="intake",
        consumers=("routing", "sla", "notify"),
        description="What citizens and desks did: received, supplement, withdrawal, payment.",
    ),
    TopicSpec(
        name="dossier.routing",
        partitions=6,
        key=DOSSIER_KEY,
        producer="routing",
        consumers=("intake", "sla", "notify"),
        description="Workflow progress: assignments, hand-offs, waits, closing.",
    ),
    TopicSpec(
        name="dossier.sla",
        partitions=6,
        key=DOSSIER_KEY,
        producer="sla",
        consumers=("intake", "notify", "routing"),
        description="Deadlines opened, due soon, overdue, apologies.",
    ),
    TopicSpec(
        name="dossier.notify",
        partitions=6,
        key=DOSSIER_KEY,
        producer="notify",
        consumers=("intake", "sla"),
        description="Status changes of messages sent to citizens; citizens' ratings.",
    ),
    TopicSpec(
        name="queue.commune",
        partitions=6,
        key=UNIT_KEY,
        producer="routing",
        consumers=(),
        description="Step assignments for commune-level units, for agency systems (routing"
        " writes its own inboxes in the transaction that assigns the step).",
    ),
    TopicSpec(
        name="queue.district",
        partitions=3,
        key=UNIT_KEY,
        producer="routing",
        consumers=(),
        description="Step assignments for district-level units.",
    ),
    TopicSpec(
        name="queue.department",
        partitions=3,
        key=UNIT_KEY,
        producer="routing",
        consumers=(),
        description="Step assignments for provincial departments and sector agencies.",
    ),
)

DLQ_SUFFIX = ".dlq"


def all_topic_names() -> list[tuple[str, int]]:
    """Every topic with its partition count, dead-letter topics included."""
    names: list[tuple[str, int]] = []
    for spec in TOPICS:
        names.append((spec.name, spec.partitions))
        names.append((spec.name + DLQ_SUFFIX, 1))
    return names
