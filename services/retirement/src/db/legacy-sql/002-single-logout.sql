-- Single logout: what the bank's back-channel notices ended, kept only while a token they concern could still be
-- presented, and loaded into memory at start (the per-request check never reads these tables). Times are seconds
-- since the Unix epoch, the unit of the tokens' iat and exp.

-- One ended login session (the logout token's `sid`): every access token carrying that sid is refused.
CREATE TABLE revoked_sessions (
  session_id TEXT PRIMARY KEY,
  keep_until INTEGER NOT NULL -- notice iat + MAX_ACCESS_TOKEN_TTL + clock tolerance
) STRICT, WITHOUT ROWID;

-- Every session of a user (a logout token with `sub` alone): tokens issued at or before `issued_up_to` are refused.
CREATE TABLE revoked_users (
  user_id      TEXT PRIMARY KEY,
  issued_up_to INTEGER NOT NULL, -- the notice's iat
  keep_until   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Every logout token accepted, by `jti`, until it expires: the same token twice is a replay (400).
CREATE TABLE seen_logout_tokens (
  jti        TEXT PRIMARY KEY,
  keep_until INTEGER NOT NULL -- the token's exp + clock tolerance
) STRICT, WITHOUT ROWID;
