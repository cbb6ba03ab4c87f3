package nodeconn

import (
	"bufio"
	"errors"
	"io"
	"strconv"
)

// A minimal RESP2/RESP3 reader and writer for the connections of this
// package (push messages, the pipelined GET path). Everything else goes
// through go-redis.

// Push is a RESP3 push message (">").
type Push []any

// RespError is an error reply ("-" or "!").
type RespError string

func (e RespError) Error() string { return string(e) }

// MaxLen bounds a bulk string read by this package.
const MaxLen = 512 << 20

// ErrProtocol means a reply this package cannot parse (the connection is
// then unusable).
var ErrProtocol = errors.New("nodeconn: protocol error")

// AppendCommand appends args as a RESP array of bulk strings.
func AppendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// WriteCommand writes args and flushes w.
func WriteCommand(w *bufio.Writer, args ...string) error {
	if _, err := w.Write(AppendCommand(nil, args...)); err != nil {
		return err
	}
	return w.Flush()
}

// ReadLine reads one CRLF-terminated line, without the CRLF. The slice
// is valid until the next read.
func ReadLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, ErrProtocol
		}
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, ErrProtocol
	}
	return line[:len(line)-2], nil
}

// ReadValue reads one RESP2/RESP3 value: strings as string, integers as
// int64, nulls as nil, aggregates as []any (maps flattened), pushes as
// Push, error replies as RespError. It never panics on bad input.
func ReadValue(r *bufio.Reader) (any, error) {
	return readDepth(r, 0)
}

func readDepth(r *bufio.Reader, depth int) (any, error) {
	if depth > 16 {
		return nil, ErrProtocol
	}
	line, err := ReadLine(r)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, ErrProtocol
	}
	body := string(line[1:])
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return RespError(body), nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, ErrProtocol
		}
		return n, nil
	case '_':
		return nil, nil
	case ',', '(', '#':
		return body, nil
	case '$', '=', '!':
		n, err := strconv.Atoi(body)
		if err != nil || n > MaxLen {
			return nil, ErrProtocol
		}
		if n < 0 {
			return nil, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		if line[0] == '!' {
			return RespError(b[:n]), nil
		}
		return string(b[:n]), nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(body)
		if err != nil || n > 1<<20 {
			return nil, ErrProtocol
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
			return Push(out), nil
		}
		return out, nil
	}
	return nil, ErrProtocol
}

// Call writes args, flushes and reads the reply; an error reply is
// returned as an error naming the command.
func Call(r *bufio.Reader, w *bufio.Writer, args ...string) (any, error) {
	if err := WriteCommand(w, args...); err != nil {
		return nil, err
	}
	v, err := ReadValue(r)
	if err != nil {
		return nil, err
	}
	if e, ok := v.(RespError); ok {
		return nil, &CommandError{Command: args[0], Err: e}
	}
	return v, nil
}

// CommandError is an error reply to a command of this package. It never
// holds the command's arguments (they may be credentials).
type CommandError struct {
	Command string
	Err     RespError
}

func (e *CommandError) Error() string { return "nodeconn: " + e.Command + ": " + string(e.Err) }

// Unwrap returns the error reply.
func (e *CommandError) Unwrap() error { return e.Err }
