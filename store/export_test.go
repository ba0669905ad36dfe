package store

// OpenWithHook opens a store whose writer calls hook each time it received
// the first request of a batch, before it gathers the rest: a hook that
// blocks holds the writer with the queue filling behind it.
func OpenWithHook(dir string, opts Options, hook func()) (*Store, error) {
	return open(dir, opts, hook)
}
