package main

import "testing"

func TestCommandsTable(t *testing.T) {
	if err := commands.Validate(); err != nil {
		t.Fatal(err)
	}
}
