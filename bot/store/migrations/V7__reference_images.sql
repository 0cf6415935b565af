-- The reference images an edit job starts from (bot/jobs/references.py): /imagine's image,
-- image2 and image3 attachments, or the result image an Edit picked. kie fetches them from
-- their own URLs when the task starts, so a job resumed after a restart, and a Reroll or
-- Remix of an edit job, must send the very same URLs again: they are kept with the job.
-- JSON: a list of objects (option, url, filename, size, content_type, width, height,
-- proxy_url, result_image), in the order kie receives them. NULL: a text-to-image job.

ALTER TABLE jobs ADD COLUMN reference_images TEXT;
