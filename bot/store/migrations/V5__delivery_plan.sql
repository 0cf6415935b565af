-- Which result images go in which message, decided once when a delivery starts, so that a
-- delivery resumed after a crash re-creates exactly the same messages and never posts an
-- image twice (JSON: a list of parts, each a list of 0-based indexes into result_urls).

ALTER TABLE jobs ADD COLUMN delivery_plan TEXT;
