package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the one fenced code block of language lang in README.md.
func readmeBlock(t *testing.T, lang string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	m := re.FindAllStringSubmatch(string(b), -1)
	if len(m) != 1 {
		t.Fatalf("README.md has %d %s code blocks, want 1", len(m), lang)
	}
	return m[0][1]
}

// TestReadmeExamples runs README's Python and JavaScript examples exactly as
// printed, except for the router's address (the test's router is on a free
// port, not 8080), and checks they print what README says they print.
func TestReadmeExamples(t *testing.T) {
	skipShort(t)
	requirePython(t)
	requireNode(t)
	r := startRouter(t)
	const printedURL = "ws://localhost:8080/ws"
	for _, ex := range []struct{ lang, file, dir, interp string }{
		{"python", "add2.py", t.TempDir(), pythonBin},
		// The JS example needs autobahn and ws: run it where tests/js has them installed.
		{"js", "readme_add2.js", filepath.Join(repoRoot(t), "tests", "js"), "node"},
	} {
		t.Run(ex.lang, func(t *testing.T) {
			code := readmeBlock(t, ex.lang)
			if !strings.Contains(code, printedURL) {
				t.Fatalf("the %s example does not connect to %s", ex.lang, printedURL)
			}
			path := filepath.Join(ex.dir, ex.file)
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(code, printedURL, r.wsURL())), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(path) })
			cmd := exec.Command(ex.interp, ex.file)
			cmd.Dir = ex.dir
			cmd.Env = clientEnv()
			done := make(chan struct{})
			var out []byte
			var err error
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("the %s example did not exit within 30s:\n%s\n%s", ex.lang, out, r.logTail())
			}
			if err != nil {
				t.Fatalf("the %s example failed: %v\n%s\n%s", ex.lang, err, out, r.logTail())
			}
			for _, want := range []string{"call result: 5", "event received: 1"} {
				if !strings.Contains(string(out), want) {
					t.Fatalf("the %s example did not print %q:\n%s", ex.lang, want, out)
				}
			}
		})
	}
}
