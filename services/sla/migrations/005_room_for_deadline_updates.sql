-- A deadline is updated when it is paused, resumed, closed or overrun; none of those columns
-- is indexed, so the new version can stay on its page (a HOT update, no index write) if
-- the page has room. Full pages made four in five of them ordinary updates.
ALTER TABLE deadlines SET (fillfactor = 75);
