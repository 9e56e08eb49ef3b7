-- Online payment of a dossier's financial obligation through VNPay. One row per attempt
-- (vnp_TxnRef, unique per attempt); the amount is the one routing assessed, never the
-- client's. The state moves once from pending (an IPN or reconciliation settles it).
CREATE TABLE payments (
    txn_ref          text PRIMARY KEY,
    dossier_id       uuid        NOT NULL,
    dossier_code     text        NOT NULL,
    portal_id        text        NOT NULL,
    obligation_event uuid        NOT NULL, -- the routing event that assessed the obligation
    assessing_unit   text        NOT NULL,
    amount_vnd       bigint      NOT NULL CHECK (amount_vnd > 0),
    gateway          text        NOT NULL DEFAULT 'vnpay',
    state            text        NOT NULL DEFAULT 'pending', -- pending | paid | failed | duplicate
    created_at       timestamptz NOT NULL DEFAULT now(),
    settled_at       timestamptz,
    settled_by       text, -- ipn | reconciliation
    response_code    text,
    transaction_no   text,
    bank_code        text,
    pay_date         text,
    receipt_no       text UNIQUE, -- biên lai điện tử, issued when paid
    CHECK (state IN ('pending', 'paid', 'failed', 'duplicate'))
);
CREATE INDEX payments_by_dossier ON payments (dossier_id, created_at);
CREATE INDEX payments_open ON payments (created_at) WHERE state = 'pending';

CREATE SEQUENCE payment_receipt_numbers;

-- Every IPN as received (even refused ones), for audit.
CREATE TABLE payment_ipns (
    id          bigserial PRIMARY KEY,
    txn_ref     text,
    params      jsonb       NOT NULL,
    rsp_code    text        NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- What each reconciliation run found.
CREATE TABLE payment_reconciliations (
    id          bigserial PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    checked     int         NOT NULL,
    findings    jsonb       NOT NULL
);
