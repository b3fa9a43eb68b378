-- Who may reveal a secret (the core's encoding), for secrets only a signed-in recipient may open.
ALTER TABLE secrets ADD COLUMN restricted_to TEXT;
