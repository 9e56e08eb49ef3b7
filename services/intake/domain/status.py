"""Public statuses in Vietnamese and which citizen actions make sense in each."""

from __future__ import annotations

from typing import Literal

from contracts.events import DossierStatus as S

STATUS_NAMES: dict[int, str] = {
    S.SUBMITTED: "Mới đăng ký",
    S.RECEIVED: "Được tiếp nhận",
    S.NOT_ACCEPTED: "Không được tiếp nhận",
    S.PROCESSING: "Đang xử lý",
    S.SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung",
    S.FINANCIAL_OBLIGATION: "Nghĩa vụ tài chính",
    S.WITHDRAWN: "Công dân yêu cầu rút",
    S.STOPPED: "Dừng xử lý",
    S.DONE: "Đã xử lý xong",
    S.RETURNED: "Đã trả kết quả",
}

Action = Literal["supplement", "withdrawal", "payment"]

# A withdrawal makes sense until the result is ready; supplements and payments only when
# the unit is waiting for them.
ALLOWED: dict[Action, frozenset[int]] = {
    "supplement": frozenset({S.SUPPLEMENT_REQUESTED}),
    "payment": frozenset({S.FINANCIAL_OBLIGATION}),
    "withdrawal": frozenset(
        {S.SUBMITTED, S.RECEIVED, S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.FINANCIAL_OBLIGATION}
    ),
}

ACTION_NAMES: dict[Action, str] = {
    "supplement": "nộp bổ sung hồ sơ",
    "payment": "xác nhận nộp nghĩa vụ tài chính",
    "withdrawal": "yêu cầu rút hồ sơ",
}


def status_name(status: int) -> str:
    return STATUS_NAMES.get(status, str(status))


def action_allowed(action: Action, status: int) -> bool:
    return status in ALLOWED[action]
