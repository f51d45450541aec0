package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keptn-sandbox/job-executor-knative/pkg/resources"
)

const usageText = `Usage: initcontainer [flags] [--] PATH...

Fetches files and folders from Keptn's configuration repository (the
resource-service) into the workspace, keeping their paths. It is the first
init container of every Job; the tasks that follow read the files there.

PATH is a file or folder entry of the tasks' "files:". A leading "/" is
optional. A trailing "/" means "folder only". A folder fetches every resource
listed under it. Each PATH is looked up at the service level at the commit,
then the stage level at the commit, then the project level WITHOUT the commit
(Keptn keeps stages on their own branches). At each level it is tried as a
file first, then as a folder; the first level that has it wins. PATHs that
are absolute ("//x"), contain "." or ".." elements, empty elements or
backslashes are refused.

With --generic (a CloudEvent that is not Keptn's, docs/generic.md) it talks
to no one: it writes the event held in K_EVENT to <workspace>/event.json and
copies each PATH, a key of the ConfigMap mounted at JOB_FILES_DIR, to
<workspace>/PATH. --project, --stage, --service and KEPTN_API_* are not used.

Environment:
  KEPTN_API_URL                   required. The resource-service base URL:
                                  http://resource-service.keptn:8080 in the cluster, or
                                  https://keptn.example.com/api/resource-service
                                  through Keptn's api-gateway.
  KEPTN_API_TOKEN                 the x-token (from a Secret). Never printed.
  KEPTN_API_CA_FILE               PEM CA bundle that replaces the system roots.
  KEPTN_API_INSECURE_SKIP_VERIFY  "true" turns TLS verification off (test
                                  installations only; the token can then be stolen).
  KEPTN_API_ESCAPING              auto (default), direct or gateway: how often "/"
                                  in a resource URI is escaped. auto = gateway
                                  (twice, job%252Fconfig.yaml) when the URL path ends in
                                  /resource-service, else direct (once, job%2Fconfig.yaml).

Exit codes:
  0  all entries fetched
  1  workspace I/O error, interrupted, or another unexpected failure
  2  usage: bad flags or environment
  3  an entry exists at no level
  4  unsafe path: in an argument, in a URI Keptn listed, a symlink or a
     file/folder clash in the workspace
  5  the workspace size limit (--max-bytes) would be exceeded
  6  Keptn unreachable, 5xx or timing out until the deadline (--timeout)
  7  Keptn refused the token (HTTP 401/403)
  8  Keptn answered unexpectedly (400, TLS certificate, malformed answer)
On failure one line goes to stderr and to the termination log.

Flags:
`

type settings struct {
	scope          resources.Scope
	commit         string
	workspace      string
	maxBytes       int64
	timeout        time.Duration
	requestTimeout time.Duration
	retryInitial   time.Duration
	terminationLog string
	groupWritable  bool
	entries        []entry

	apiURL, token, caFile string
	insecure              bool
	escaping              resources.Escaping

	// The generic mode (generic.go).
	generic         bool
	event, filesDir string
	keys            []string
}

func newFlagSet(s *settings) *flag.FlagSet {
	fs := flag.NewFlagSet("initcontainer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&s.scope.Project, "project", "", "Keptn project (required)")
	fs.StringVar(&s.scope.Stage, "stage", "", "Keptn stage (required)")
	fs.StringVar(&s.scope.Service, "service", "", "Keptn service (required)")
	fs.StringVar(&s.commit, "git-commit-id", "", "commit of the configuration repository the event refers to (service and stage level)")
	fs.StringVar(&s.workspace, "workspace", "/keptn", "directory to write into")
	fs.Int64Var(&s.maxBytes, "max-bytes", 0, "workspace size limit in bytes, counted in 4 KiB blocks like kubelet does; 0 = none")
	fs.DurationVar(&s.timeout, "timeout", 5*time.Minute, "overall deadline, retries included")
	fs.DurationVar(&s.requestTimeout, "request-timeout", 30*time.Second, "deadline of a single HTTP request")
	fs.DurationVar(&s.retryInitial, "retry-initial", 500*time.Millisecond, "first retry delay; doubles up to 10s")
	fs.StringVar(&s.terminationLog, "termination-log", "/dev/termination-log", "file that receives the one-line error, if it exists and is writable")
	fs.BoolVar(&s.groupWritable, "group-writable", false, "create files 0664 and folders 0775 instead of 0644/0755, for tasks sharing the pod's fsGroup")
	fs.BoolVar(&s.generic, "generic", false, "generic mode: write $K_EVENT to <workspace>/event.json and copy each PATH, a key of the ConfigMap mounted at $JOB_FILES_DIR; no Keptn, no token")
	return fs
}

// parseSettings reads flags and environment. Errors are usage errors unless
// they are exitErrors already (an unsafe PATH).
func parseSettings(args []string, getenv func(string) string, stdout io.Writer) (*settings, error) {
	s := &settings{}
	fs := newFlagSet(s)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
		}
		return s, err
	}
	switch {
	case !s.generic && (s.scope.Project == "" || s.scope.Stage == "" || s.scope.Service == ""):
		return s, errors.New("--project, --stage and --service are required")
	case s.maxBytes < 0:
		return s, fmt.Errorf("--max-bytes %d is negative", s.maxBytes)
	case s.timeout <= 0 || s.requestTimeout <= 0 || s.retryInitial <= 0:
		return s, errors.New("--timeout, --request-timeout and --retry-initial must be positive")
	}
	if s.generic {
		return s, s.genericSettings(fs.Args(), getenv)
	}
	if err := s.scope.Validate(); err != nil {
		return s, err
	}
	s.apiURL = getenv("KEPTN_API_URL")
	s.token = getenv("KEPTN_API_TOKEN")
	s.caFile = getenv("KEPTN_API_CA_FILE")
	if s.apiURL == "" {
		return s, errors.New("KEPTN_API_URL is not set")
	}
	if v := getenv("KEPTN_API_INSECURE_SKIP_VERIFY"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("KEPTN_API_INSECURE_SKIP_VERIFY=%q is not a boolean", v)
		}
		s.insecure = b
	}
	esc, err := resources.ParseEscaping(getenv("KEPTN_API_ESCAPING"))
	if err != nil {
		return s, fmt.Errorf("KEPTN_API_ESCAPING: %w", err)
	}
	s.escaping = esc
	for _, a := range fs.Args() {
		e, err := parseEntry(a)
		if err != nil {
			return s, err
		}
		s.entries = append(s.entries, e)
	}
	return s, nil
}

func (s *settings) client() (*resources.ResourceClient, error) {
	// A response carries one file base64-encoded: bound it by what the
	// workspace could hold, and by memory.
	maxResp := int64(64 << 20)
	if s.maxBytes > 0 {
		maxResp = min(maxResp, s.maxBytes/3*4+(1<<20))
	}
	opts := []resources.ClientOption{
		resources.WithEscaping(s.escaping),
		resources.WithTimeout(s.requestTimeout),
		resources.WithMaxResponseBytes(maxResp),
	}
	if s.token != "" {
		opts = append(opts, resources.WithToken(s.token))
	}
	if s.caFile != "" {
		opts = append(opts, resources.WithCAFile(s.caFile))
	}
	if s.insecure {
		opts = append(opts, resources.WithInsecureSkipVerify())
	}
	return resources.NewResourceClient(s.apiURL, opts...)
}

// run is main without the process: tests call it in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	s, err := parseSettings(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		code := exitUsage
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		} else {
			err = fmt.Errorf("%w (see --help)", err)
		}
		report(stderr, s, err)
		return code
	}
	if err := execute(ctx, s, stdout); err != nil {
		report(stderr, s, err)
		return exitCode(err)
	}
	return exitOK
}

func execute(ctx context.Context, s *settings, stdout io.Writer) error {
	if s.generic {
		return executeGeneric(s, stdout)
	}
	c, err := s.client()
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if len(s.entries) == 0 {
		fmt.Fprintln(stdout, "no files to fetch")
		return nil
	}
	ws, err := openWorkspace(s.workspace, s.maxBytes, s.groupWritable)
	if err != nil {
		return err
	}
	defer ws.Close()
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	f := &fetcher{
		src:     c,
		scope:   s.scope,
		commit:  s.commit,
		ws:      ws,
		backoff: backoff{initial: s.retryInitial, max: 10 * time.Second},
		log:     stdout,
		written: map[string]bool{},
	}
	for _, e := range s.entries {
		if err := f.fetchEntry(ctx, e); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "fetched %d files (%d bytes) into %s\n", f.files, f.bytes, s.workspace)
	return nil
}

// maxTerminationMessage stays under Kubernetes' 4096-byte limit.
const maxTerminationMessage = 4000

// report writes the error as one line to stderr and, if it exists, to the
// termination log (kubelet creates it; we never create it).
func report(stderr io.Writer, s *settings, err error) {
	line := "initcontainer: " + strings.Join(strings.Fields(err.Error()), " ")
	if s.token != "" {
		line = strings.ReplaceAll(line, s.token, "[redacted]")
	}
	if len(line) > maxTerminationMessage {
		line = line[:maxTerminationMessage]
	}
	fmt.Fprintln(stderr, line)
	if s.terminationLog == "" {
		return
	}
	f, ferr := os.OpenFile(s.terminationLog, os.O_WRONLY|os.O_TRUNC, 0) //nolint:gosec // G703: the path is our --termination-log flag, set in the Job we build, never by Keptn
	if ferr != nil {
		return
	}
	_, _ = f.WriteString(line + "\n")
	_ = f.Close()
}
