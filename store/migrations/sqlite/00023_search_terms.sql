-- Every word in the search index, so that a query term can be expanded into
-- the indexed words it begins (store.InboxList). FTS5 answers a prefix query
-- ("term"*) by merging the document lists of every word with that prefix in
-- memory before it yields a row: for a common word, every match, even for a
-- page of 50. A plain word or an OR of words streams from the newest match.
-- The store adds the words of each message it indexes; this fills the table
-- from what is indexed already.

-- +goose Up
CREATE TABLE search_terms (term TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
CREATE VIRTUAL TABLE temp.search_vocab USING fts5vocab(main, message_search, 'row');
INSERT OR IGNORE INTO search_terms (term) SELECT term FROM temp.search_vocab;
DROP TABLE temp.search_vocab;

-- +goose Down
DROP TABLE search_terms;
