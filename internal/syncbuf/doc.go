// Package syncbuf is a bytes.Buffer safe for concurrent writers: tests hand
// it to a logger that several goroutines write to, and read it back.
//
//	goroutines ──Write──► Buffer ──String──► test
package syncbuf
