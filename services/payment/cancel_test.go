package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
)

// cancelAfterBegin cancels the request's context right after Begin: the
// caller gives up (or its deadline passes) while the charge is under way.
type cancelAfterBegin struct {
	Store
	cancel context.CancelFunc
}

func (s cancelAfterBegin) Begin(ctx context.Context, rec Record, leaseUntil time.Time) (Record, bool, error) {
	got, created, err := s.Store.Begin(ctx, rec, leaseUntil)
	s.cancel()
	return got, created, err
}

// TestChargeFinishesWhenTheCallerGoesAway: once a charge has begun, it is
// stored complete even if the caller cancels, so that the log's
// payment.charged and the row agree and a retry replays it instead of
// charging again.
func TestChargeFinishesWhenTheCallerGoesAway(t *testing.T) {
	st, err := OpenStore(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := New(Config{Base: kit.Base{Keys: kittest.Keys, Now: kittest.NewClock().Now}, Tokens: kit.Tokens{Validator: kittest.Validator},
		Store: cancelAfterBegin{Store: st, cancel: cancel}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	body, _ := json.Marshal(ChargeRequest{OrderID: "ord_gone", UserID: "usr_alice", AmountCents: 1000, Currency: "EUR"})
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, RoutePayments, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth.ServiceKeyHeader, kittest.Keys.Service)
	req.Header.Set(kit.IdempotencyKeyHeader, "gone-1")
	s.ServeHTTP(httptest.NewRecorder(), req)

	sum, err := st.Summary(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.TotalCharges != 1 || sum.Processing != 0 {
		t.Fatalf("after the caller went away mid-charge: %+v, want one complete charge, none processing", sum)
	}
}

// completedFirst lets "another process" complete the charge just before
// this request does, as when this request's claim expired mid-charge and
// the other took it over.
type completedFirst struct {
	Store
}

func (s completedFirst) Complete(ctx context.Context, rec Record) (bool, error) {
	other := rec
	other.RespBody = []byte(`{"by":"the other process"}`)
	if _, err := s.Store.Complete(ctx, other); err != nil {
		return false, err
	}
	return s.Store.Complete(ctx, rec)
}

// TestCompletedByAnotherAnswersItsAnswer: a request whose Complete finds
// the charge already completed answers what is stored, not its own copy.
func TestCompletedByAnotherAnswersItsAnswer(t *testing.T) {
	st, err := OpenStore(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Base: kit.Base{Keys: kittest.Keys}, Tokens: kit.Tokens{Validator: kittest.Validator}, Store: completedFirst{st}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	url := kittest.Serve(t, s).URL
	r := kittest.Call(t, http.MethodPost, url+RoutePayments, ChargeRequest{OrderID: "ord_x", AmountCents: 5, Currency: "EUR"},
		append(svcKey, kit.IdempotencyKeyHeader, "first")...)
	if r.Status != http.StatusCreated || string(r.Body) != `{"by":"the other process"}` {
		t.Fatalf("answer %d %s, want the stored one", r.Status, r.Body)
	}
}
