package clocktest

import (
	"testing"
	"time"
)

func TestAdvanceFiresDueWaitersOnly(t *testing.T) {
	c := New(Epoch)
	short, long := c.After(time.Second), c.After(time.Minute)
	c.Advance(2 * time.Second)
	select {
	case got := <-short:
		if want := Epoch.Add(2 * time.Second); !got.Equal(want) {
			t.Fatalf("fired at %v, want %v", got, want)
		}
	default:
		t.Fatal("1s waiter did not fire after 2s")
	}
	select {
	case <-long:
		t.Fatal("1m waiter fired after 2s")
	default:
	}
	if n := c.Waiters(); n != 1 {
		t.Fatalf("Waiters = %d, want 1", n)
	}
}

func TestBlockUntilSeesWaiterFromOtherGoroutine(t *testing.T) {
	c := New(Epoch)
	done := make(chan time.Time)
	go func() { done <- <-c.After(3 * time.Second) }()
	c.BlockUntil(t, 1)
	c.Advance(3 * time.Second)
	if got := <-done; !got.Equal(Epoch.Add(3 * time.Second)) {
		t.Fatalf("got %v", got)
	}
}

func TestAutoAdvances(t *testing.T) {
	c := NewAuto(Epoch)
	<-c.After(time.Second)
	<-c.After(0)
	<-c.After(2 * time.Second)
	if got := c.Now(); !got.Equal(Epoch.Add(3 * time.Second)) {
		t.Fatalf("Now = %v", got)
	}
	if w := c.Waits(); len(w) != 2 || w[0] != time.Second || w[1] != 2*time.Second {
		t.Fatalf("Waits = %v", w)
	}
}
