"""The legal moves between dossier statuses (``contracts.events.DossierStatus``, TrangThaiHoSo
in portal sync) and the sets routing's rules use."""

from __future__ import annotations

from contracts.events import DossierStatus

TERMINAL = frozenset(
    {
        DossierStatus.NOT_ACCEPTED,
        DossierStatus.WITHDRAWN,
        DossierStatus.STOPPED,
        DossierStatus.RETURNED,
    }
)

# The clock stands still while the dossier waits for the citizen.
PAUSED = frozenset({DossierStatus.SUPPLEMENT_REQUESTED, DossierStatus.FINANCIAL_OBLIGATION})

# "Ending time" for SLA: the first of these that a dossier reaches.
ENDING = frozenset(
    {DossierStatus.DONE, DossierStatus.RETURNED, DossierStatus.STOPPED, DossierStatus.NOT_ACCEPTED}
)

_S = DossierStatus
LEGAL_MOVES: frozenset[tuple[DossierStatus, DossierStatus]] = frozenset(
    {
        (_S.RECEIVED, _S.PROCESSING),
        (_S.RECEIVED, _S.NOT_ACCEPTED),  # the desk refuses before anyone processes
        (_S.RECEIVED, _S.WITHDRAWN),
        (_S.RECEIVED, _S.STOPPED),
        (_S.PROCESSING, _S.SUPPLEMENT_REQUESTED),
        (_S.PROCESSING, _S.FINANCIAL_OBLIGATION),
        (_S.PROCESSING, _S.WITHDRAWN),
        (_S.PROCESSING, _S.STOPPED),
        (_S.PROCESSING, _S.DONE),
        # The only ways back: the citizen supplied the papers or paid.
        (_S.SUPPLEMENT_REQUESTED, _S.PROCESSING),
        (_S.SUPPLEMENT_REQUESTED, _S.WITHDRAWN),
        (_S.SUPPLEMENT_REQUESTED, _S.STOPPED),
        (_S.FINANCIAL_OBLIGATION, _S.PROCESSING),
        (_S.FINANCIAL_OBLIGATION, _S.WITHDRAWN),
        (_S.FINANCIAL_OBLIGATION, _S.STOPPED),
        (_S.DONE, _S.RETURNED),
    }
)


def is_legal_move(old: DossierStatus, new: DossierStatus) -> bool:
    return old == new or (old, new) in LEGAL_MOVES
