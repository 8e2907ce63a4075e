package storetest_test

import (
	"os"
	"testing"

	"github.com/faultlab/faultlab/internal/store/conformance"
	"github.com/faultlab/faultlab/internal/store/pgtest"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/services/user/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestStores(t *testing.T) { conformance.Both(t, user.OpenStore, user.OpenPGStore, storetest.Run) }
