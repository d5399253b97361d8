-- One plan per user. `user_id` is the access token's `sub`: users live in the bank's database, which this service
-- never reads, so there is no foreign key to them. A plan row appears the first time the user opens their plan.
CREATE TABLE plans (
  user_id TEXT PRIMARY KEY,
  created_at TEXT NOT NULL -- ISO 8601, UTC
) STRICT;

-- Money is integer cents: floating point cannot represent most decimal amounts exactly.
CREATE TABLE contributions (
  id TEXT PRIMARY KEY, -- random UUID, so ids reveal nothing about how many contributions others made
  user_id TEXT NOT NULL REFERENCES plans (user_id),
  amount_cents INTEGER NOT NULL CHECK (amount_cents BETWEEN 1 AND 100000000),
  created_at TEXT NOT NULL -- ISO 8601, UTC
) STRICT;

CREATE INDEX contributions_by_user ON contributions (user_id, created_at);
