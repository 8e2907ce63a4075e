package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// AnswerError is an answer with an error status (≥ 400). A Call's Do
// returns it to give the report what the answer said; Run records its
// Detail as Result.Detail and leaves Result.Err nil, since the request
// itself went through.
type AnswerError struct {
	Status int
	// Detail is the problem+json title and detail, or the start of the body.
	Detail string
}

func (e *AnswerError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Detail) }

// Answer returns the AnswerError of an answer with status ≥ 400 and body,
// or nil for any other status.
func Answer(status int, body []byte) error {
	if status < 400 {
		return nil
	}
	return &AnswerError{Status: status, Detail: describe(body)}
}

// maxDetail caps Detail, in bytes.
const maxDetail = 160

// describe says what an error answer's body says: "title: detail" of a
// problem+json, else its first line.
func describe(body []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
	}
	s := ""
	if json.Unmarshal(body, &p) == nil && (p.Title != "" || p.Detail != "") {
		s = p.Title
		if p.Detail != "" && p.Detail != p.Title {
			s = strings.TrimPrefix(s+": "+p.Detail, ": ")
		}
	} else {
		s, _, _ = strings.Cut(strings.TrimSpace(string(body)), "\n")
	}
	if len(s) > maxDetail {
		s = s[:maxDetail]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s
}

// detailOf moves an AnswerError out of err into a Detail.
func detailOf(err error) (detail string, rest error) {
	var ae *AnswerError
	if errors.As(err, &ae) {
		return ae.Detail, nil
	}
	return "", err
}
