-- The account's vault key sealed under its password (and the master key), and each browser
-- session's copy of it sealed under the session's token.
ALTER TABLE passwords ADD COLUMN vault BLOB;
ALTER TABLE sessions ADD COLUMN vault BLOB;
