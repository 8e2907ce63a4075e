package chaos

import (
	"reflect"
	"testing"
)

// The embedded files are the Go literal's scenarios, field for field.
func TestFilesMatchLiteral(t *testing.T) {
	want := map[string]Scenario{}
	for _, sc := range Catalogue() {
		want[sc.Name] = sc
	}
	got := loadCatalogue()
	if len(got) != len(want) {
		t.Fatalf("%d files, %d literal scenarios", len(got), len(want))
	}
	for _, sc := range got {
		if !reflect.DeepEqual(sc, want[sc.Name]) {
			t.Errorf("%s differs:\nfile    %+v\nliteral %+v", sc.Name, sc, want[sc.Name])
		}
	}
}
