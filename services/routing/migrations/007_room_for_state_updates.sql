-- An instance's state is rewritten on every step; only its key is indexed, so the new
-- version can stay on the same page (a HOT update, no index write) if the page has room.
ALTER TABLE instances SET (fillfactor = 60);
