"""Dossier-level status codes (TrangThaiHoSo in portal sync) and the legal moves between them."""

from __future__ import annotations

from enum import IntEnum


class DossierStatus(IntEnum):
    SUBMITTED = 1  # Mới đăng ký (intake's business; routing starts at RECEIVED)
    RECEIVED = 2  # Được tiếp nhận
    REFUSED = 3  # Không được tiếp nhận
    PROCESSING = 4  # Đang xử lý
    SUPPLEMENT = 5  # Yêu cầu bổ sung (clock paused)
    FINANCIAL_OBLIGATION = 6  # Nghĩa vụ tài chính (clock paused)
    WITHDRAWN = 7  # Công dân yêu cầu rút
    STOPPED = 8  # Dừng xử lý
    DONE = 9  # Đã xử lý xong (result at the desk)
    RETURNED = 10  # Đã trả kết quả

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    DossierStatus.SUBMITTED: "Mới đăng ký",
    DossierStatus.RECEIVED: "Được tiếp nhận",
    DossierStatus.REFUSED: "Không được tiếp nhận",
    DossierStatus.PROCESSING: "Đang xử lý",
    DossierStatus.SUPPLEMENT: "Yêu cầu bổ sung",
    DossierStatus.FINANCIAL_OBLIGATION: "Nghĩa vụ tài chính",
    DossierStatus.WITHDRAWN: "Công dân yêu cầu rút",
    DossierStatus.STOPPED: "Dừng xử lý",
    DossierStatus.DONE: "Đã xử lý xong",
    DossierStatus.RETURNED: "Đã trả kết quả",
}

TERMINAL = frozenset(
    {DossierStatus.REFUSED, DossierStatus.WITHDRAWN, DossierStatus.STOPPED, DossierStatus.RETURNED}
)

# The clock stands still while the dossier waits for the citizen.
PAUSED = frozenset({DossierStatus.SUPPLEMENT, DossierStatus.FINANCIAL_OBLIGATION})

# "Ending time" for SLA: the first of these that a dossier reaches.
ENDING = frozenset(
    {DossierStatus.DONE, DossierStatus.RETURNED, DossierStatus.STOPPED, DossierStatus.REFUSED}
)

_S = DossierStatus
LEGAL_MOVES: frozenset[tuple[DossierStatus, DossierStatus]] = frozenset(
    {
        (_S.RECEIVED, _S.PROCESSING),
        (_S.RECEIVED, _S.REFUSED),  # the desk refuses before anyone processes
        (_S.RECEIVED, _S.WITHDRAWN),
        (_S.RECEIVED, _S.STOPPED),
        (_S.PROCESSING, _S.SUPPLEMENT),
        (_S.PROCESSING, _S.FINANCIAL_OBLIGATION),
        (_S.PROCESSING, _S.WITHDRAWN),
        (_S.PROCESSING, _S.STOPPED),
        (_S.PROCESSING, _S.DONE),
        # The only ways back: the citizen supplied the papers or paid.
        (_S.SUPPLEMENT, _S.PROCESSING),
        (_S.SUPPLEMENT, _S.WITHDRAWN),
        (_S.SUPPLEMENT, _S.STOPPED),
        (_S.FINANCIAL_OBLIGATION, _S.PROCESSING),
        (_S.FINANCIAL_OBLIGATION, _S.WITHDRAWN),
        (_S.FINANCIAL_OBLIGATION, _S.STOPPED),
        (_S.DONE, _S.RETURNED),
    }
)


def is_legal_move(old: DossierStatus, new: DossierStatus) -> bool:
    return old == new or (old, new) in LEGAL_MOVES
