-- Replayed dead letters past their retention, found by age: what relay-outbox's
-- retention deletes a batch at a time (pending ones stay until replayed).
CREATE INDEX dead_letters_replayed_idx ON dead_letters (replayed_at) WHERE status = 'replayed';
