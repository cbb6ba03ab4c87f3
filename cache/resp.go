package cache

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// A minimal RESP3 reader and writer for the tracking connections, which
// need push messages on a connection of their own. Everything else goes
// through go-redis.

// respPush is a RESP3 push message (">").
type respPush []any

// respError is an error reply ("-" or "!").
type respError string

func (e respError) Error() string { return string(e) }

const maxRespLen = 512 << 20

var errRespProto = errors.New("cache: tracking connection: protocol error")

func writeCommand(w *bufio.Writer, args ...string) error {
	fmt.Fprintf(w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(w, "$%d\r\n%s\r\n", len(a), a)
	}
	return w.Flush()
}

func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errRespProto
		}
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errRespProto
	}
	return line[:len(line)-2], nil
}

// readValue reads one RESP2/RESP3 value: strings as string, integers as
// int64, nulls as nil, aggregates as []any (maps flattened), pushes as
// respPush, error replies as respError. It never panics on bad input.
func readValue(r *bufio.Reader) (any, error) {
	return readDepth(r, 0)
}

func readDepth(r *bufio.Reader, depth int) (any, error) {
	if depth > 16 {
		return nil, errRespProto
	}
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, errRespProto
	}
	body := string(line[1:])
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return respError(body), nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, errRespProto
		}
		return n, nil
	case '_':
		return nil, nil
	case ',', '(', '#':
		return body, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(body)
		if err != nil || n > maxRespLen {
			return nil, errRespProto
		}
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		if line[0] == '!' {
			return respError(b[:n]), nil
		}
		return string(b[:n]), nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(body)
		if err != nil || n > 1<<20 {
			return nil, errRespProto
		}
		if n < 0 {
			return nil, nil
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		out := make([]any, 0, n)
		for range n {
			v, err := readDepth(r, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if line[0] == '|' {
			// An attribute precedes the real value: skip it.
			return readDepth(r, depth)
		}
		if line[0] == '>' {
			return respPush(out), nil
		}
		return out, nil
	}
	return nil, errRespProto
}
