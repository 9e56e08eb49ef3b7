-- A dossier's status changes a few times after it is written, and those columns are in no
-- index, so each change can stay on the row's page (a HOT update) if the page has room.
-- Full pages made nine in ten of them ordinary updates in the hop bench, each writing all
-- eleven index entries again, the applicant-name GIN index (intake_fold) among them; at
-- 70 % fill still half were. Rows are about 1.5 kB, so new pages are filled to half.
ALTER TABLE dossiers SET (fillfactor = 50);
ALTER TABLE idempotency_keys SET (fillfactor = 80);
