package store

// IndexTerms lets the external tests reach indexTerms.
func (s *Store) IndexTerms(text string) []string { return s.indexTerms(text) }

// SearchTerms lets the external tests reach searchTerms.
func (s *Store) SearchTerms(text string) []string { return s.searchTerms(text) }
