-- Whose a booking is: the subject that made it, or the passenger an agent
-- named. Bookings made before identities have none, and only agents and
-- admins see them; every new one has one (checked for new rows only, so
-- adding the column reads no old row).
ALTER TABLE bookings ADD COLUMN owner text;
ALTER TABLE bookings ADD CONSTRAINT bookings_owner_check
    CHECK (owner IS NOT NULL AND char_length(owner) BETWEEN 1 AND 255) NOT VALID;

-- A passenger's own bookings, oldest first, a page at a time.
CREATE INDEX bookings_owner_idx ON bookings (owner, created_at, id);
