package shop_test

import (
	"os"
	"testing"

	"github.com/faultlab/faultlab/internal/store/conformance"
	"github.com/faultlab/faultlab/internal/store/pgtest"
	"github.com/faultlab/faultlab/services/order"
	orderstoretest "github.com/faultlab/faultlab/services/order/storetest"
	"github.com/faultlab/faultlab/services/payment"
	paymentstoretest "github.com/faultlab/faultlab/services/payment/storetest"
	"github.com/faultlab/faultlab/services/product"
	productstoretest "github.com/faultlab/faultlab/services/product/storetest"
	"github.com/faultlab/faultlab/services/user"
	userstoretest "github.com/faultlab/faultlab/services/user/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestStores runs each service's conformance suite against its SQLite and
// its PostgreSQL store, on one shared PostgreSQL server.
func TestStores(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"user", func(t *testing.T) { conformance.Both(t, user.OpenStore, user.OpenPGStore, userstoretest.Run) }},
		{"product", func(t *testing.T) {
			conformance.Both(t, product.OpenStore, product.OpenPGStore, productstoretest.Run)
		}},
		{"payment", func(t *testing.T) {
			conformance.Both(t, payment.OpenStore, payment.OpenPGStore, paymentstoretest.Run)
		}},
		{"order", func(t *testing.T) { conformance.Both(t, order.OpenStore, order.OpenPGStore, orderstoretest.Run) }},
	} {
		t.Run(tc.name, tc.run)
	}
}
