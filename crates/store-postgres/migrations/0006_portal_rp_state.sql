-- The CME portal keeps, per portal session, its relying-party state (sealed tokens and the last
-- claims it read from the provider).
ALTER TABLE portal_sessions ADD COLUMN rp_state text;
