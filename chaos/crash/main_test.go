package crash

import (
	"os"
	"testing"

	"github.com/faultlab/faultlab/internal/store/pgtest"
)

// TestMain stops the PostgreSQL that TestCrashSafetyOnPostgres starts.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
