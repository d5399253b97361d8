-- Refresh sessions keep a fixed amount of data however often they rotate (issue 11). One row per login session
-- holds everything reuse detection and the grace window need; the per-rotation rows of retired_refresh_tokens go.
-- Times are milliseconds since the Unix epoch, written by the application, as in 001.

-- The current token's generation: 0 at login, +1 per rotation. Tokens carry theirs (refresh-token.ts), so a
-- presented token of a lower generation, with a valid MAC, is recognised as an older token of this session.
ALTER TABLE login_sessions ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
-- SHA-256 of the token the current one replaced, and when: for REFRESH_REUSE_GRACE (parallel tabs).
ALTER TABLE login_sessions ADD COLUMN previous_token_hash BLOB;
ALTER TABLE login_sessions ADD COLUMN rotated_at INTEGER;
-- The current token, AES-256-GCM under a key derived from the previous one (only its holder can open it); NULL
-- once the grace window has passed (cleared by the next rotation, a revocation or the hourly clean-up).
ALTER TABLE login_sessions ADD COLUMN successor_box BLOB;

-- Older tokens are now recognised by generation; the sessions these rows belonged to keep their current token.
DROP TABLE retired_refresh_tokens;
