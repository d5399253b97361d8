-- Single logout: one row per (ended login session, back-channel URL) still to be told. Written in the same
-- transaction as the revocation, so a crash can lose neither without the other; deleted once the receiver answered
-- 2xx, or once every access token of the session has expired anyway (give_up_at). Times are milliseconds since the
-- Unix epoch, written by the application, as in 001.
--
-- No foreign key to login_sessions: a notice must outlive the session row (a deleted user, a pruned session).
CREATE TABLE logout_outbox (
  id              INTEGER PRIMARY KEY,
  url             TEXT NOT NULL,      -- one entry of BACKCHANNEL_LOGOUT_URLS
  session_id      TEXT,               -- the logout token's `sid`; NULL: every session of the user (`sub` alone)
  user_id         TEXT NOT NULL,      -- the logout token's `sub`
  created_at      INTEGER NOT NULL,   -- when the session was revoked
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  give_up_at      INTEGER NOT NULL    -- created_at + ACCESS_TOKEN_TTL + clock tolerance
);
CREATE INDEX logout_outbox_due ON logout_outbox (next_attempt_at);
