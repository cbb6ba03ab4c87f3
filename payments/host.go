package payments

import (
	"fmt"
	"os"
)

func hostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		h = "payments"
	}
	return fmt.Sprintf("%s:%d", h, os.Getpid()), err
}
