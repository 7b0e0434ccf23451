-- When the writer committed each revocation, in Unix milliseconds of its clock: a replica that
-- applies it later observes now - committed_at_ms (sessiongate_revocation_propagation_seconds).
-- NULL for rows written before this column existed (not observed).
ALTER TABLE revocations ADD COLUMN committed_at_ms INTEGER;
