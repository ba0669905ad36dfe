package main

import (
	"io"
	"log/slog"
)

// newLogger returns the process logger: JSON or text records on w at level
// and above. Secrets and tokens are never passed to it.
func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
