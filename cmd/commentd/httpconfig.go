package main

import "github.com/commentd/commentd/httpapi"

// httpConfig plugs the concrete parts into the HTTP layer's interfaces:
// commands go to the actors, queries to the read model, history and the feed
// to the actors' view of the event log.
func (m *Main) httpConfig(secret []byte) httpapi.Config {
	return httpapi.Config{
		Bus:         m.system,
		Queries:     m.model,
		Events:      m.system,
		Ready:       m.caughtUp,
		WriteFailed: func() bool { return m.store.Err() != nil },
		Secret:      secret,
		QueryAuth:   m.Config.QueryAuth,
		Logger:      m.logger.With("component", "httpapi"),
		Registerer:  m.registry,
		Gatherer:    m.registry,

		ReadTimeout:  m.Config.ReadTimeout,
		WriteTimeout: m.Config.WriteTimeout,
		IdleTimeout:  m.Config.ConnIdleTimeout,
		MaxConns:     m.Config.MaxConns,
	}
}
