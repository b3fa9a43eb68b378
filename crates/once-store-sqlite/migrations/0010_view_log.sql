-- The receipt's view log: one `AT,CLIENT` entry per reveal, `;`-separated (once_store::ViewNote).
ALTER TABLE receipts ADD COLUMN view_log TEXT;
