"""Development values of notify's receipt secrets, shared by its settings and the local
gateway stand-ins (`devservers`) so `make run` works out of the box.

Never valid outside development: production must set its own (the settings refuse these).
"""

from __future__ import annotations

DEV_RECEIPT_TOKEN_SECRET = "dev-receipt-token-secret-change-me"
DEV_ZALO_APP_ID = "dev-zalo-app-id"
DEV_ZALO_OA_SECRET_KEY = "dev-zalo-oa-secret-key-change-me"
DEV_VIETTEL_RECEIPT_TOKEN = "dev-viettel-receipt-token-change-me"

DEV_RECEIPT_SECRETS = frozenset(
    {DEV_RECEIPT_TOKEN_SECRET, DEV_ZALO_OA_SECRET_KEY, DEV_VIETTEL_RECEIPT_TOKEN}
)
DEV_OPT_OUT_LINK_SECRET = "dev-opt-out-link-secret-change-me"
DEV_RATING_LINK_SECRET = "dev-rating-link-secret-change-me"
