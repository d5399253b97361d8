-- Times are milliseconds since the Unix epoch, written by the application (never SQLite's clock), so that a
-- session's lifetime and the login throttle follow one clock that tests can move.

CREATE TABLE users (
  id            TEXT PRIMARY KEY,                 -- a UUID: the access token's `sub`
  username      TEXT NOT NULL UNIQUE CHECK (username = lower(username)),
  password_hash TEXT NOT NULL,                    -- argon2id, PHC string format
  created_at    INTEGER NOT NULL
);

CREATE TABLE login_sessions (
  id                 TEXT PRIMARY KEY,            -- random: the access token's `sid`
  user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  refresh_token_hash BLOB NOT NULL UNIQUE,        -- SHA-256 of the current refresh token; the token is never stored
  created_at         INTEGER NOT NULL,
  last_used_at       INTEGER NOT NULL,
  expires_at         INTEGER NOT NULL,            -- created_at + REFRESH_TOKEN_TTL; rotation never extends it
  revoked_at         INTEGER,
  user_agent         TEXT
);
CREATE INDEX login_sessions_by_user ON login_sessions (user_id);

-- Every refresh token a session has rotated away from. Presenting one of them again means two parties hold the
-- session's tokens (theft), so the whole session is revoked.
CREATE TABLE retired_refresh_tokens (
  token_hash BLOB PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES login_sessions (id) ON DELETE CASCADE,
  retired_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX retired_refresh_tokens_by_session ON retired_refresh_tokens (session_id);

CREATE TABLE accounts (
  id            TEXT PRIMARY KEY,                 -- a UUID
  user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  balance_cents INTEGER NOT NULL DEFAULT 0,
  created_at    INTEGER NOT NULL
);
CREATE INDEX accounts_by_user ON accounts (user_id);

-- Consecutive failed logins per (normalised) username, known or not, so the limit also holds across restarts
-- and for several processes sharing the file.
CREATE TABLE login_throttle (
  username        TEXT PRIMARY KEY,
  attempts        INTEGER NOT NULL,
  last_attempt_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX login_throttle_by_time ON login_throttle (last_attempt_at);
