package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// rawRequests formats each body (or one body-less request when bodies is
// nil) as a complete HTTP/1.1 request for addr, ready to be written to a
// keep-alive connection.
func rawRequests(method, addr, path string, bodies [][]byte) [][]byte {
	if bodies == nil {
		bodies = [][]byte{nil}
	}
	out := make([][]byte, len(bodies))
	for i, b := range bodies {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, addr)
		if b != nil {
			buf.WriteString("Content-Type: application/json\r\nContent-Length: ")
			buf.WriteString(strconv.Itoa(len(b)))
			buf.WriteString("\r\n")
		}
		buf.WriteString("\r\n")
		buf.Write(b)
		out[i] = buf.Bytes()
	}
	return out
}

// conn is one keep-alive HTTP/1.1 connection driven by a single goroutine:
// it writes a pre-formatted request and parses the response with
// net/http's parser on the same goroutine. net/http's client runs a read
// and a write goroutine per connection, whose hand-offs would add the load
// generator's own scheduling delays to every latency measured; a conn
// adds none (as wrk-style generators do).
type conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	body bytes.Buffer
}

// do sends req and returns the redis_round_trips of the response (-1 when
// it has none). A failed exchange closes the connection; the next call
// dials again.
func (c *conn) do(req []byte) (int, error) {
	if c.c == nil {
		nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return -1, err
		}
		c.c = nc
		if c.br == nil {
			c.br = bufio.NewReaderSize(nc, 16<<10)
		} else {
			c.br.Reset(nc)
		}
	}
	n, err := c.exchange(req)
	if err != nil {
		c.close()
	}
	return n, err
}

func (c *conn) exchange(req []byte) (int, error) {
	if _, err := c.c.Write(req); err != nil {
		return -1, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return -1, err
	}
	c.body.Reset()
	_, err = c.body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return -1, err
	}
	if resp.Close {
		c.close()
	}
	if resp.StatusCode != http.StatusOK {
		return -1, fmt.Errorf("%s", resp.Status)
	}
	return roundTrips(c.body.Bytes()), nil
}

func (c *conn) close() {
	if c.c != nil {
		_ = c.c.Close()
		c.c = nil
	}
}
