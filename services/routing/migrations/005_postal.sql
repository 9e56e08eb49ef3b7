-- Results by post. A dossier whose citizen chose postal return is remembered at arrival
-- (only the opaque contact reference: the address stays at intake). When its result is
-- ready (status 9), a postal order row is committed with that decision: the outbox of the
-- postal sender, which creates the order at the postal service (idempotent on order_ref),
-- with retries and backoff under a lease. Tracking callbacks are kept once per status.
CREATE TABLE postal_returns (
    dossier_id  uuid PRIMARY KEY,
    contact_ref text        NOT NULL,
    noted_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE postal_orders (
    order_ref       text PRIMARY KEY,
    dossier_id      uuid        NOT NULL UNIQUE,
    dossier_code    text        NOT NULL,
    procedure_code  text,
    unit_code       text        NOT NULL,
    contact_ref     text        NOT NULL,
    papers          text[]      NOT NULL,
    state           text        NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'created', 'dead')),
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    order_id        text UNIQUE,
    tracking_number text,
    postal_status   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX postal_orders_due ON postal_orders (next_attempt_at) WHERE state = 'pending';

CREATE TABLE postal_tracking (
    order_id    text        NOT NULL,
    status      text        NOT NULL,
    at          timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (order_id, status)
);
