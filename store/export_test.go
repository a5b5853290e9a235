package store

// SearchTerms lets the external tests reach searchTerms.
func (s *Store) SearchTerms(text string) []string { return s.searchTerms(text) }
