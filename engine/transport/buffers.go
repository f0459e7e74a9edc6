package transport

import (
	"errors"
	"io"
	"time"
)

// The controller runs one session per host at once: a no-op run of a
// fleet has every host's probe script in flight together, so what each
// session buffers is multiplied by the number of hosts (see
// docs/performance.md, "Controller memory").

// stdinChunk is the most a session's stdin is handed to x/crypto/ssh at
// once. The channel builds one packet of that size (kept for the
// channel's life) and the cipher one more (kept for the connection's);
// a probe script given whole would also be copied whole (io.Copy of a
// strings.Reader into a pipe converts the string to bytes). 8 KiB keeps
// those three at 8 KiB rather than the script's size plus 2 x 32 KiB,
// at the cost of one packet (header, MAC, write) per 8 KiB: nothing next
// to a round trip, and a transfer is bound by the channel's window anyway.
const stdinChunk = 8 << 10

// chunked hands r to a session's stdin in pieces of at most stdinChunk
// bytes, through one buffer of that size. It implements io.WriterTo so
// that io.Copy uses it rather than allocating its own 32 KiB buffer.
func chunked(r io.Reader) io.Reader {
	if r == nil {
		return nil
	}
	return &chunkReader{r: r}
}

type chunkReader struct{ r io.Reader }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > stdinChunk {
		p = p[:stdinChunk]
	}
	return c.r.Read(p)
}

func (c *chunkReader) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, stdinChunk)
	var total int64
	for {
		n, err := c.r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
			if m < n {
				return total, io.ErrShortWrite
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// errOutputLimit is what a capped buffer answers past its limit.
var errOutputLimit = errors.New("output limit reached")

// readChunk is the least a capped buffer grows by when it reads.
const readChunk = 512

// ReadFrom reads r straight into the buffer, with Write's limit: io.Copy
// (x/crypto/ssh's copy of a session's stdout and stderr) then needs no
// 32 KiB copy buffer per stream, and a stream that says little (stderr,
// a short probe) holds little.
func (c *capped) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	for {
		c.buf.Grow(readChunk)
		p := c.buf.AvailableBuffer()
		p = p[:cap(p)]
		n, err := r.Read(p)
		if n > 0 {
			if c.buf.Len()+n > c.max {
				if !c.over {
					c.over = true
					go c.stop()
				}
				return total, errOutputLimit
			}
			c.buf.Write(p[:n]) // in place: p is the buffer's own free space
			total += int64(n)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// stdinFeed writes a command's stdin to its session, as x/crypto/ssh does
// with Session.Stdin but without the pipe, the second goroutine and the
// 32 KiB copy buffer it puts between the reader and the channel: from
// one goroutine, in stdinChunk pieces, straight into the channel. Its
// error is what Session.Wait would have returned for that copy.
type stdinFeed struct {
	w    io.WriteCloser // the session's StdinPipe
	r    io.Reader
	done chan error
}

// start feeds stdin once the command runs (a nil feed does nothing).
func (f *stdinFeed) start() {
	if f == nil {
		return
	}
	f.done = make(chan error, 1)
	go func() {
		_, err := io.Copy(f.w, chunked(f.r))
		// The end of stdin (EOF for the command).
		if err1 := f.w.Close(); err == nil && err1 != io.EOF {
			err = err1
		}
		f.done <- err
	}()
}

// result is the feed's error once the command has ended: nil when all of
// stdin was sent. A command that ended without reading all of it has its
// channel closed by the host, which ends the feed; a host that keeps it
// open past answerGrace has the session closed.
func (f *stdinFeed) result(sess io.Closer) error {
	if f == nil {
		return nil
	}
	select {
	case err := <-f.done:
		return err
	case <-time.After(answerGrace):
		sess.Close()
		return <-f.done
	}
}
