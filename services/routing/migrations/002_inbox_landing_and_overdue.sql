-- When a task landed in its unit's inbox (what "submission to first inbox" measures), and
-- whether SLA reported its step overdue (the inbox shows late work first).
ALTER TABLE inbox ADD COLUMN created_at timestamptz NOT NULL DEFAULT clock_timestamp();
ALTER TABLE inbox ADD COLUMN overdue boolean NOT NULL DEFAULT false;
