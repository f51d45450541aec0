package testbed

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// raceTrace is the end of kwok's log when easycel's race kills it.
const raceTrace = `fatal error: concurrent map writes

goroutine 43 [running]:
internal/runtime/maps.fatal({0x2832877?, 0x2432d80?})
github.com/wzshiming/easycel.getTrait({0x29e2078, 0x272b380})
`

// fakeKwok is a script standing in for kwok: run n (counted in a file
// beside it) does what deaths[n] says — "race" prints raceTrace and dies as
// Go's fatal errors do (exit 2), "late-race" does so after a second,
// "other" dies of something else, "" (or past the list) runs until it is
// stopped.
func fakeKwok(t *testing.T, deaths ...string) (bin, runs string) {
	t.Helper()
	dir := t.TempDir()
	runs = filepath.Join(dir, "runs")
	race := filepath.Join(dir, "race.txt")
	if err := os.WriteFile(race, []byte(raceTrace), 0o644); err != nil {
		t.Fatal(err)
	}
	var cases strings.Builder
	for i, d := range deaths {
		switch d {
		case "race":
			cases.WriteString(" " + strconv.Itoa(i+1) + ") cat " + race + " >&2; exit 2;;\n")
		case "late-race":
			cases.WriteString(" " + strconv.Itoa(i+1) + ") sleep 1; cat " + race + " >&2; exit 2;;\n")
		case "other":
			cases.WriteString(" " + strconv.Itoa(i+1) + ") echo 'panic: something else' >&2; exit 1;;\n")
		}
	}
	script := "#!/bin/sh\necho x >> " + runs + "\nn=$(wc -l < " + runs + ")\necho \"run $n\" >&2\ncase $n in\n" +
		cases.String() + "esac\nexec sleep 600\n"
	bin = filepath.Join(dir, "kwok")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, runs
}

func countRuns(t *testing.T, runs string) int {
	t.Helper()
	b, err := os.ReadFile(runs)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

func bedWithKwok(t *testing.T, bin string) *Bed {
	t.Helper()
	b := &Bed{dir: t.TempDir(), log: io.Discard, bins: Binaries{Kwok: bin}}
	t.Cleanup(b.Stop)
	return b
}

// healthz answers 200: kwok's health is not what these tests are about.
func healthz(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestKwokIsStartedAgainAfterEasycelsRace(t *testing.T) {
	bin, runs := fakeKwok(t, "late-race", "race", "race")
	b := bedWithKwok(t, bin)
	run, err := b.startKwokUntilHealthy(context.Background(), nil, healthz(t))
	if err != nil {
		t.Fatal(err)
	}
	// The first run is healthy, then dies of the race, as do the next two.
	go b.keepKwok(run, nil)
	deadline := time.Now().Add(10 * time.Second)
	for countRuns(t, runs) < 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := countRuns(t, runs); n != 4 {
		t.Fatalf("kwok ran %d times, want 4: once healthy, then again after each of three deaths by the race", n)
	}
	b.Stop()
	if n := countRuns(t, runs); n != 4 {
		t.Fatalf("kwok ran %d times after the bed stopped, want 4", n)
	}
}

func TestKwokIsNotStartedAgainAfterAnotherDeath(t *testing.T) {
	// The log still holds an earlier run's race: only the last run's part
	// counts.
	bin, runs := fakeKwok(t, "race", "other")
	b := bedWithKwok(t, bin)
	_, err := b.startKwokUntilHealthy(context.Background(), nil, "http://127.0.0.1:1/healthz")
	if err == nil || !strings.Contains(err.Error(), "something else") {
		t.Fatalf("start error = %v, want kwok's own death with its log", err)
	}
	if n := countRuns(t, runs); n != 2 {
		t.Fatalf("kwok ran %d times, want 2: the race is restarted, another death is not", n)
	}
}

func TestKwokRestartsAreBounded(t *testing.T) {
	deaths := make([]string, kwokRestarts+2)
	for i := range deaths {
		deaths[i] = "race"
	}
	bin, runs := fakeKwok(t, deaths...)
	b := bedWithKwok(t, bin)
	if _, err := b.startKwokUntilHealthy(context.Background(), nil, "http://127.0.0.1:1/healthz"); err == nil {
		t.Fatal("kwok that always dies started")
	}
	if n := countRuns(t, runs); n != kwokRestarts+1 {
		t.Fatalf("kwok ran %d times, want %d", n, kwokRestarts+1)
	}
}
