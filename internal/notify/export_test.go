package notify

// Feeds returns how many registry subscriptions the server holds: one per
// subscribed topic.
func (s *Server) Feeds() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.topics)
}
