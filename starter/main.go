// Command starter is the billing staff's command-line tool: it onboards
// customers, records payments, changes accounts, and shows their status,
// emails and audit log. Run `starter --help` for the commands.
//
// Exit codes: 0 done; 1 refused or not found (the message says why);
// 2 bad input or usage; 3 Temporal or PostgreSQL unreachable.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	root := newRoot(os.Stdout, os.Stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "starter:", err)
		os.Exit(exitCode(err))
	}
}

// Exit codes scripts can rely on.
const (
	exitRefused     = 1
	exitUsage       = 2
	exitUnavailable = 3
)

// codedError carries an exit code.
type codedError struct {
	code int
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func usage(format string, args ...any) error {
	return &codedError{exitUsage, fmt.Errorf(format, args...)}
}

func exitCode(err error) int {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return exitUsage // cobra's own errors are about flags and arguments
}
