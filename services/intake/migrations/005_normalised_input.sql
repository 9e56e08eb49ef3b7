-- Input normalisation (issue 12). What intake stores from now on is normalised as it is
-- received; this brings what it stored before to the same forms:
-- * text in Unicode NFC (names, addresses, summaries, document names, notes);
-- * ID and phone numbers in ASCII digits (fullwidth and Arabic-Indic digits were taken);
-- * mobile numbers as 0 and 9 digits (+84..., 84... and separators were taken).
-- Values that still do not fit (none should) are left as they are.
UPDATE dossiers SET
    applicant = normalize(applicant::text, NFC)::jsonb,
    documents = normalize(documents::text, NFC)::jsonb,
    fees = normalize(fees::text, NFC)::jsonb,
    request = normalize(request::text, NFC)::jsonb
WHERE NOT (applicant::text IS NFC NORMALIZED AND documents::text IS NFC NORMALIZED
           AND fees::text IS NFC NORMALIZED AND request::text IS NFC NORMALIZED);

UPDATE timeline SET details = normalize(details::text, NFC)::jsonb
WHERE NOT details::text IS NFC NORMALIZED;

UPDATE portals SET name = normalize(name, NFC) WHERE NOT name IS NFC NORMALIZED;

-- Fullwidth (U+FF10..), Arabic-Indic (U+0660..) and Extended Arabic-Indic (U+06F0..) digits.
UPDATE dossiers SET applicant = jsonb_set(
    applicant, '{citizen_id}',
    to_jsonb(translate(applicant ->> 'citizen_id',
        '０１２３４５６７８９٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹', '012345678901234567890123456789')))
WHERE applicant ->> 'citizen_id' !~ '^[0-9]*$';

WITH phones AS (
    SELECT id, regexp_match(
        regexp_replace(
            translate(applicant ->> 'phone',
                '０１２３４５６７８９٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹', '012345678901234567890123456789'),
            '[[:space:].()-]', '', 'g'),
        '^(?:(?:\+|00)?840?|0)([35789][0-9]{8})$') AS found
    FROM dossiers
    WHERE applicant ? 'phone' AND applicant ->> 'phone' !~ '^0[35789][0-9]{8}$'
)
UPDATE dossiers d SET applicant = jsonb_set(d.applicant, '{phone}', to_jsonb('0' || p.found[1]))
FROM phones p
WHERE d.id = p.id AND p.found IS NOT NULL;
