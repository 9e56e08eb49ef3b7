-- Every routing batch looks up the inbox rows of its dossiers (the task a step replaced,
-- a dossier paused or closed), and so do the console's dossier views. Without this index
-- each lookup read the whole inbox, which only grows: done tasks stay for the record.
CREATE INDEX IF NOT EXISTS inbox_by_dossier ON inbox (dossier_id);
