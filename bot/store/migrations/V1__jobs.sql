-- Jobs: one row per /imagine request, written before anything is sent to kie.ai.
-- Times are Unix seconds (DOUBLE PRECISION) so both backends compare them the same way.
-- No statement may contain a dollar sign or a semicolon inside a line (see database.py).

CREATE TABLE jobs (
    id                     TEXT PRIMARY KEY,
    callback_token         TEXT NOT NULL UNIQUE,
    guild_id               BIGINT NOT NULL,
    channel_id             BIGINT NOT NULL,
    user_id                BIGINT NOT NULL,
    state                  TEXT NOT NULL,
    kie_state              TEXT,
    task_id                TEXT UNIQUE,
    prompt                 TEXT NOT NULL,
    image_size             TEXT NOT NULL,
    resolution             TEXT NOT NULL,
    images                 INTEGER NOT NULL,
    seed                   BIGINT,
    safety                 SMALLINT NOT NULL DEFAULT 1,
    spoiler                SMALLINT NOT NULL DEFAULT 0,
    parent_job_id          TEXT,
    application_id         BIGINT,
    interaction_id         BIGINT,
    interaction_token      TEXT,
    interaction_created_at DOUBLE PRECISION,
    attachment_size_limit  BIGINT,
    progress_message_id    BIGINT,
    created_at             DOUBLE PRECISION NOT NULL,
    updated_at             DOUBLE PRECISION NOT NULL,
    submitted_at           DOUBLE PRECISION,
    kie_finished_at        DOUBLE PRECISION,
    finished_at            DOUBLE PRECISION,
    next_check_at          DOUBLE PRECISION,
    result_urls            TEXT,
    parts_delivered        INTEGER NOT NULL DEFAULT 0,
    delivered_via          TEXT,
    images_delivered       INTEGER,
    credits_consumed       DOUBLE PRECISION,
    cost_time              DOUBLE PRECISION,
    fail_code              TEXT,
    fail_message           TEXT
);

CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_user ON jobs (guild_id, user_id, state);

-- Small named values the bot keeps between runs (e.g. the hash of the last command sync).
CREATE TABLE bot_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
