"""A clerk hands a claimed step to the unit head for signature; the head completes it."""

from __future__ import annotations

import pytest

from tests.support.officials import DONG_LAM, Official, application, submit
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e
BIRTH_REGISTRATION = "1.001193"


def test_the_clerk_forwards_the_step_to_the_head_who_signs_and_completes_it(
    system: dict[str, ServiceProcess],
) -> None:
    routing = system["routing"].url
    clerk = Official(routing, DONG_LAM)
    head = Official(routing, DONG_LAM, role="lanhdao")
    receipt = submit(system["intake"].url, application(BIRTH_REGISTRATION))
    task = clerk.task_of(receipt["id"], "khai_sinh")
    clerk.claim(task)

    elsewhere = clerk.post(f"/v1/tasks/{task['task_id']}/forward", {"to_user": "giamsat"})
    assert elsewhere.status_code == 422  # not an official of this unit

    forwarded = clerk.post(
        f"/v1/tasks/{task['task_id']}/forward",
        {"to_user": head.username, "note": "Trình lãnh đạo ký"},
    )
    assert forwarded.status_code == 200, forwarded.text
    assert clerk.post(f"/v1/tasks/{task['task_id']}/complete").status_code == 409
    done = head.complete(task)
    assert done["status"] in (9, 10)
    audit = head.workflow(receipt["id"]).json()["audit"]
    assert [a["action"] for a in audit if a["actor"] == clerk.username] == ["Claim", "Forward"]
