-- The languages a job speaks (bot/i18n): the member's Discord locale, for what goes through
-- their interaction (progress, the result while the token lives, a failure), and the
-- server's preferred locale, for channel messages not tied to a live interaction (a result
-- after the 15-minute token expired, or after a restart). Discord sends both on every
-- interaction; older rows have neither and are spoken to in English.

ALTER TABLE jobs ADD COLUMN locale TEXT;

ALTER TABLE jobs ADD COLUMN guild_locale TEXT;
