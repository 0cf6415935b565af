-- Credits become exact: whole thousandths of a credit in a BIGINT, not a DOUBLE PRECISION.
--
-- kie charges fractions (0.8 and 5.5 have been seen, docs/kie-api.md §4) and the admin pays
-- for every one, so stored amounts and their sums must be exact. A binary float holds neither
-- 0.1 nor 0.8, and a thousand 0.1s summed as floats make 99.9999999999986. SQLite has no
-- decimal type (a NUMERIC column keeps 0.8 as a float), so one schema for both backends stores
-- integers: credits_consumed_milli = credits times 1000. Integers sum exactly in SQL on both
-- backends, and a thousandth is finer than any charge kie has made. The jobs store converts
-- at its boundary (bot/credits.py): Job.credits_consumed stays an exact Decimal in credits.
-- The new column name carries its unit, so no query can read thousandths as credits.
--
-- Existing float values are rounded to the nearest thousandth: 0.8 stored as a float is
-- 0.8000000000000000444 and becomes 800 exactly. Half-way cases (a float that is exactly
-- some thousandths plus one half, which no kie charge is) round as each backend rounds.

ALTER TABLE jobs ADD COLUMN credits_consumed_milli BIGINT;

UPDATE jobs SET credits_consumed_milli = CAST(ROUND(credits_consumed * 1000) AS BIGINT)
WHERE credits_consumed IS NOT NULL;

ALTER TABLE jobs DROP COLUMN credits_consumed;
