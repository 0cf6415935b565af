-- Admin control: where /imagine may run, channel defaults and caps, quotas, blocklist, audit.
-- Ids are Discord snowflakes (BIGINT). Times are Unix seconds. Flags are SMALLINT 0/1.
-- A guild-wide row uses channel_id 0 rather than NULL: NULLs never collide in a UNIQUE key
-- on either backend, and no Discord snowflake is 0.

CREATE TABLE guild_settings (
    guild_id   BIGINT PRIMARY KEY,
    mode       TEXT NOT NULL DEFAULT 'open',
    updated_at DOUBLE PRECISION NOT NULL
);

-- NULL in a value column means "not set here": inherit from the guild row, then the default.
CREATE TABLE channel_settings (
    guild_id       BIGINT NOT NULL,
    channel_id     BIGINT NOT NULL,
    enabled        SMALLINT,
    image_size     TEXT,
    resolution     TEXT,
    images         INTEGER,
    max_resolution TEXT,
    max_images     INTEGER,
    safety         SMALLINT,
    updated_at     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, channel_id)
);

-- scope is default, role, member, channel or server. target_id is the role, member or
-- channel id, and 0 for default and server.
CREATE TABLE quota_limits (
    guild_id     BIGINT NOT NULL,
    scope        TEXT NOT NULL,
    target_id    BIGINT NOT NULL,
    limit_images INTEGER NOT NULL,
    period       TEXT NOT NULL,
    updated_at   DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, scope, target_id)
);

-- Images counted against one limit in one calendar period. scope is member, channel or
-- server (target_id 0). A reservation adds to a bucket only while used stays within the limit.
CREATE TABLE quota_usage (
    guild_id     BIGINT NOT NULL,
    scope        TEXT NOT NULL,
    target_id    BIGINT NOT NULL,
    period       TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    used         INTEGER NOT NULL,
    PRIMARY KEY (guild_id, scope, target_id, period, period_start)
);

-- One row per job that reserved quota. state is reserved, settled or refunded. charged is
-- what the job still counts in each of its buckets.
CREATE TABLE quota_reservations (
    job_id     TEXT PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    channel_id BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    images     INTEGER NOT NULL,
    charged    INTEGER NOT NULL,
    state      TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

-- The buckets a reservation added to, so settling and refunding find them after a restart
-- and after the period rolled over.
CREATE TABLE quota_reservation_buckets (
    job_id       TEXT NOT NULL REFERENCES quota_reservations (job_id) ON DELETE CASCADE,
    scope        TEXT NOT NULL,
    target_id    BIGINT NOT NULL,
    period       TEXT NOT NULL,
    period_start BIGINT NOT NULL,
    PRIMARY KEY (job_id, scope)
);

-- entry is a lower-cased word or phrase, or a regular expression prefixed with re: .
CREATE TABLE blocklist (
    guild_id   BIGINT NOT NULL,
    entry      TEXT NOT NULL,
    added_by   BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (guild_id, entry)
);

-- old_value and new_value are JSON.
CREATE TABLE audit_log (
    id         TEXT PRIMARY KEY,
    guild_id   BIGINT NOT NULL,
    actor_id   BIGINT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    old_value  TEXT NOT NULL,
    new_value  TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

CREATE INDEX audit_log_guild ON audit_log (guild_id, created_at);
