// Command commentd runs the comment service and mints tokens for it.
//
//	commentd serve [flags]     the HTTP service (see "commentd serve -h")
//	commentd token --user ID   prints a signed bearer token
//
// Exit status: 0 after a clean run or shutdown (SIGINT/SIGTERM), 1 on a
// runtime failure, 2 on a usage mistake.
//
// All wiring of the concrete packages happens in Main (serve.go); the
// end-to-end tests start the service through the same type.
//
// Invariants of the wiring:
//   - Main owns everything it opens and closes it in dependency order: the
//     HTTP server first (no new request enters; in-flight commands finish),
//     then the actors, then the read model, then the event store, so every
//     acknowledged command has been flushed before the process exits 0.
//   - The process serves /v1 only once the read model has caught up with the
//     log as it was at start, and no command after the event store failed.
//   - The token secret is never logged; a generated one lives in
//     <data>/auth-secret with mode 0600, in a data directory created 0700.
//   - One Prometheus registry per process, holding the Go and process
//     collectors and every package's collectors; nothing uses the global
//     default registry.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `Usage:
  commentd serve [flags]                     run the comment service
  commentd token --user <id> [--ttl 24h] [--auth-secret S] [--data DIR]
                                             print a signed bearer token
Run "commentd <command> -h" for the flags of a command.
`

// run dispatches the subcommand and maps its outcome to an exit status.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(args[1:], getenv, stderr)
	case "token":
		err = runToken(args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "commentd: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case IsUsageError(err):
		fmt.Fprintf(stderr, "commentd %s: %v\n", args[0], err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "commentd %s: %v\n", args[0], err)
		return exitFailure
	}
}

// runServe runs the service until SIGINT or SIGTERM, then shuts it down
// gracefully.
func runServe(args []string, getenv func(string) string, stderr io.Writer) error {
	m := NewMain()
	m.Stderr = stderr
	if err := m.ParseFlags(args, getenv); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := m.Run(ctx); err != nil {
		return errors.Join(err, m.Close())
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case <-m.Done():
		serveErr = m.ServeErr()
		if serveErr == nil {
			serveErr = errors.New("http server stopped unexpectedly")
		}
	}
	stop() // a second signal now kills the process the default way
	return errors.Join(serveErr, m.Close())
}
