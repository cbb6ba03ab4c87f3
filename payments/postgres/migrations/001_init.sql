-- 001_init: the reference payments schema.

CREATE TABLE products (
    id          bigint PRIMARY KEY,
    name        text   NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    stock       bigint NOT NULL DEFAULT 0,
    version     bigint NOT NULL DEFAULT 1,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id            bigserial PRIMARY KEY,
    email         text  NOT NULL UNIQUE,
    name          text  NOT NULL,
    password_salt bytea NOT NULL,
    password_hash bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- fence is the newest lock fencing token that claimed the order: a charge
-- commits only while the committing holder's token is still the newest.
CREATE TABLE orders (
    id           bigserial PRIMARY KEY,
    account_id   bigint NOT NULL REFERENCES accounts(id),
    product_id   bigint NOT NULL REFERENCES products(id),
    quantity     int    NOT NULL CHECK (quantity > 0),
    amount_cents bigint NOT NULL,
    status       text   NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid')),
    fence        bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    paid_at      timestamptz
);
CREATE INDEX orders_account ON orders (account_id);

-- One charge per order, whatever happens above: the last line of defence
-- behind the lock and the fence.
CREATE TABLE charges (
    id              uuid   PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id        bigint NOT NULL UNIQUE REFERENCES orders(id),
    account_id      bigint NOT NULL REFERENCES accounts(id),
    amount_cents    bigint NOT NULL,
    fence           bigint NOT NULL,
    idempotency_key text   NOT NULL,
    instance        text   NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    confirmed_at    timestamptz,
    confirm_runs    int    NOT NULL DEFAULT 0
);

-- The money movements the "payment provider" made. Deliberately without a
-- unique constraint: double charges are counted here.
CREATE TABLE ledger (
    id           bigserial PRIMARY KEY,
    order_id     bigint NOT NULL,
    charge_id    uuid   NOT NULL,
    amount_cents bigint NOT NULL,
    fence        bigint NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_order ON ledger (order_id);

CREATE TABLE receipts (
    charge_id  uuid PRIMARY KEY REFERENCES charges(id),
    sent_at    timestamptz NOT NULL DEFAULT now(),
    send_runs  int NOT NULL DEFAULT 1
);

-- Idempotency keys are per account; a key names one order's payment.
CREATE TABLE idempotency_keys (
    account_id bigint NOT NULL,
    key        text   NOT NULL,
    order_id   bigint NOT NULL,
    charge_id  uuid   NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);

-- Every job run the workers made, to prove each job ran its effect once.
CREATE TABLE job_runs (
    job_id   text   NOT NULL,
    name     text   NOT NULL,
    runs     int    NOT NULL DEFAULT 1,
    effects  int    NOT NULL DEFAULT 0,
    last_run timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id)
);
