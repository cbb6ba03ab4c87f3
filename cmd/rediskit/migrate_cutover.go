package main

import (
	"context"
	"errors"
	"io"
)

func runMigrateCutover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("migrate cutover: not implemented yet")
}
