package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/console"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/observability/logstore"
	"github.com/faultlab/faultlab/observability/logstore/logstoretest"
	"github.com/faultlab/faultlab/services/user"
)

// chromium returns Chromium's path. A missing Chromium skips the test on a
// developer's machine, and fails it in CI (CI set) or wherever the tools
// are required (logstoretest.Required).
func chromium(t *testing.T) string {
	t.Helper()
	p, err := logstore.FindTool("chromium", logstoretest.Dirs()...)
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" || logstoretest.Required() {
		t.Fatalf("%v: the console test needs Chromium here (apt-get install chromium)", err)
	}
	t.Skipf("skipping: %v (apt-get install chromium)", err)
	return ""
}

// TestBrowserBreakerFlow drives the console in headless Chromium against an
// in-process lab: it starts payment-down from the page and sees its
// verdicts arrive; then, under load, it takes order-to-payment down from
// the page, sees order's payment breaker open, removes the toxic and sees
// the breaker close.
//
// FAULTLAB_CONSOLE_SCREENSHOTS=DIR also saves the page, with the breaker
// open and after the scenario, as DIR/console-open.png and
// DIR/console-scenario.png (the README's images: docs/).
func TestBrowserBreakerFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a lab and Chromium")
	}
	exe := chromium(t)
	l, err := lab.Start(t.Context(), lab.Config{
		Ephemeral: true, DataDir: t.TempDir(), Default: lab.ScenarioPolicy,
		Argon2: &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
	})
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	c, err := console.Start(console.Config{Lab: l.Remote}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	alloc, cancel := chromedp.NewExecAllocator(t.Context(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 1100))...)
	defer cancel()
	browser, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The first Run starts the browser, which lives as long as that call's
	// context: no deadline on it.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	hop := `#hop-order-to-payment`
	step(t, browser, "open the console", 20*time.Second,
		chromedp.Navigate(c.URL()),
		chromedp.WaitReady(chromedp.CSS(hop+`[data-breaker="closed"]`)))
	var verdicts int
	var status string
	step(t, browser, "run payment-down from the page and see its verdicts", 45*time.Second,
		chromedp.SetValue(chromedp.CSS(`#run-form select[name=scenario]`), "payment-down"),
		chromedp.Click(chromedp.CSS(`#start-run`)),
		chromedp.WaitReady(chromedp.CSS(`#run-status[data-verdict="running"]`)),
		chromedp.WaitReady(chromedp.CSS(`#verdicts tbody tr`)),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) (err error) {
			verdicts, err = chromedp.Evaluate[int](`document.querySelectorAll("#verdicts tbody tr").length`)(ctx, tg)
			if err == nil {
				status, err = chromedp.Text(chromedp.CSS(`#run-status`))(ctx, tg)
			}
			return err
		}))
	shot(t, browser, "console-scenario.png", chromedp.Screenshot(chromedp.CSS(`#scenario-panel`)))
	if verdicts < 5 {
		t.Errorf("the page shows %d verdicts, want every check of payment-down", verdicts)
	}
	t.Logf("run: %s, %d verdicts", status, verdicts)

	orderLoad(t, l)
	step(t, browser, "add an HTTP fault from the page", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#fault-form select[name=service]`), "product"),
		chromedp.SetValue(chromedp.CSS(`#fault-form select[name=kind]`), "delay"),
		chromedp.Func(showFor("#fault-form")),
		chromedp.SetValue(chromedp.CSS(`#fault-form input[name=delay]`), "20ms"),
		chromedp.SetValue(chromedp.CSS(`#fault-form input[name=path_prefix]`), "/products"),
		chromedp.Click(chromedp.CSS(`#add-fault`)),
		chromedp.WaitReady(chromedp.CSS(`#svc-product[data-faults="console-fault"]`)))
	step(t, browser, "take order-to-payment down from the page", 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#toxic-form select[name=hop]`), "order-to-payment"),
		chromedp.SetValue(chromedp.CSS(`#toxic-form select[name=kind]`), "down"),
		chromedp.Click(chromedp.CSS(`#add-toxic`)),
		chromedp.WaitReady(chromedp.CSS(hop+`[data-toxics="down"]`)))
	step(t, browser, "see the order→payment breaker open", 20*time.Second,
		chromedp.WaitReady(chromedp.CSS(hop+`[data-breaker="open"]`)),
		chromedp.WaitReady(chromedp.CSS(`#breaker-order-to-payment.breaker-open`)))
	shot(t, browser, "console-open.png", func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
		if _, err := chromedp.Evaluate[any](`window.scrollTo(0, 0)`)(ctx, tg); err != nil {
			return nil, err
		}
		return chromedp.CaptureScreenshot()(ctx, tg)
	})
	step(t, browser, "remove the HTTP fault from the page", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#rm-fault-product-console-fault`)),
		chromedp.WaitReady(chromedp.CSS(`#svc-product[data-faults=""]`)))
	step(t, browser, "clear the fault from the page", 10*time.Second,
		chromedp.Click(chromedp.CSS(`#rm-toxic-order-to-payment-down`)),
		chromedp.WaitReady(chromedp.CSS(hop+`[data-toxics=""]`)))
	step(t, browser, "see the breaker close", 25*time.Second,
		chromedp.WaitReady(chromedp.CSS(hop+`[data-breaker="closed"]`)))
}

// showFor fires the change event of a form's kind select, as a user's
// choice does, so the page shows that kind's inputs.
func showFor(form string) func(ctx context.Context, tg *chromedp.Target) error {
	return func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Evaluate[any](`document.querySelector("`+form+` select[name=kind]").dispatchEvent(new Event("change"))`)(ctx, tg)
		return err
	}
}

// step runs actions with a deadline and names what did not happen.
func step(t *testing.T, browser context.Context, what string, within time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser, within)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(ctx, actions...); err != nil {
		page, _ := chromedp.Run(browser, chromedp.Text(chromedp.CSS(`main`)))
		t.Fatalf("%s: not within %s: %v\npage text:\n%s", what, within, err, page)
	}
	t.Logf("%s: %s", what, time.Since(start).Round(time.Millisecond))
}

// shot saves a screenshot when FAULTLAB_CONSOLE_SCREENSHOTS names a folder.
func shot(t *testing.T, browser context.Context, name string, capture chromedp.Action[[]byte]) {
	t.Helper()
	dir := os.Getenv("FAULTLAB_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(browser, capture)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// orderLoad places orders through the gateway with the lab's load
// generator until the test ends.
func orderLoad(t *testing.T, l *lab.Lab) {
	t.Helper()
	tok, err := l.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(chaos.OrderBody("prd_005"))
	var n atomic.Int64
	call := load.Call{Name: "create_order", Weight: 1, Build: func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.GatewayURL()+chaos.DefaultRoutes.Orders, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("console-%d", n.Add(1)))
		return req, nil
	}}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = load.Run(ctx, load.Config{Rate: 20, Duration: 2 * time.Minute, Concurrency: 16, Mix: []load.Call{call}, Client: l.HTTPClient()})
	}()
	t.Cleanup(func() { cancel(); <-done })
}
