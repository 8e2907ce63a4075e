package storetest_test

import (
	"os"
	"testing"

	"github.com/faultlab/faultlab/internal/store/conformance"
	"github.com/faultlab/faultlab/internal/store/pgtest"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/payment/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestStores(t *testing.T) {
	conformance.Both(t, payment.OpenStore, payment.OpenPGStore, storetest.Run)
}
