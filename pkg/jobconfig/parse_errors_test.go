package jobconfig

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// head is a valid start that the cases below complete; it ends inside the
// first task, whose fields start at column 9 of line 8.
const head = `apiVersion: v2
actions:
  - name: a
    events:
      - name: sh.keptn.event.test.triggered
    tasks:
      - name: t
        image: alpine
`

// TestParseErrors checks the exact message, line, column and path of every
// kind of mistake, and that Parse reports all of them, not just the first.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		// Document level.
		{"empty document", "", []string{
			"job/config.yaml:1:1: the document is empty: apiVersion must be specified (use v2)"}},
		{"only a comment", "# nothing\n", []string{
			"job/config.yaml:1:1: the document is empty: apiVersion must be specified (use v2)"}},
		{"null document", "~\n", []string{
			"job/config.yaml:1:1: the document is empty: apiVersion must be specified (use v2)"}},
		{"syntax error", "apiVersion: v2\nactions: [\n", []string{
			"job/config.yaml:2: invalid YAML: did not find expected node content"}},
		{"unknown anchor", "apiVersion: v2\nactions:\n  - *nope\n", []string{
			"job/config.yaml:3: invalid YAML: unknown anchor 'nope' referenced"}},
		{"two documents", "apiVersion: v2\n---\napiVersion: v2\n", []string{
			"job/config.yaml:2:1: only one YAML document is allowed (found a second one)"}},
		{"not a mapping", "- a\n", []string{
			"job/config.yaml:1:1: must be a mapping (got a list)"}},
		{"missing apiVersion", "actions: []\n", []string{
			"job/config.yaml:1:1: apiVersion: must be specified (use v2)"}},
		{"empty apiVersion", "apiVersion: ''\n", []string{
			"job/config.yaml:1:13: apiVersion: must be specified (use v2)"}},
		{"old apiVersion", "apiVersion: v1\nactions: []\n", []string{
			"job/config.yaml:1:13: apiVersion: v1 is not supported, use v2"}},
		{"unknown top-level field with suggestion", "apiVersion: v2\naction: []\n", []string{
			`job/config.yaml:2:1: action: unknown field (did you mean "actions"?)`}},
		{"duplicate key", "apiVersion: v2\napiVersion: v2\n", []string{
			"job/config.yaml:2:1: apiVersion: duplicate field (first at line 1)"}},
		{"actions as mapping (JES rejected it too)", "apiVersion: v2\nactions: {}\n", []string{
			"job/config.yaml:2:10: actions: must be a list (got a mapping)"}},

		// Actions.
		{"action not a mapping", "apiVersion: v2\nactions:\n  - just a string\n", []string{
			`job/config.yaml:3:5: actions[0]: must be a mapping (got "just a string")`}},
		{"action null", "apiVersion: v2\nactions:\n  -\n", []string{
			"job/config.yaml:3:4: actions[0]: must be a mapping (got null)"}},
		{"action without name, events, tasks", "apiVersion: v2\nactions:\n  - silent: true\n", []string{
			"job/config.yaml:3:5: actions[0].name: required: every action needs a name (Jobs, reports and the file fetcher refer to it)",
			"job/config.yaml:3:5: actions[0].events: required: an action needs at least one event",
			"job/config.yaml:3:5: actions[0].tasks: required: an action needs at least one task"}},
		{"duplicate action names", head + "  - name: a\n    event: x.y\n    image: alpine\n", []string{
			"job/config.yaml:9:11: actions[1].name: duplicate action name \"a\" (also actions[0], line 3)"}},
		{"silent not a bool", strings.Replace(head, "  - name: a\n", "  - name: a\n    silent: maybe\n", 1), []string{
			`job/config.yaml:4:13: actions[0].silent: must be true or false (got "maybe")`}},
		{"events empty", strings.Replace(head, "    events:\n      - name: sh.keptn.event.test.triggered\n", "    events: []\n", 1), []string{
			"job/config.yaml:4:13: actions[0].events: required: an action needs at least one event"}},
		{"event and events", strings.Replace(head, "    events:\n", "    event: x.y\n    events:\n", 1), []string{
			"job/config.yaml:4:5: actions[0].event: use either event or events, not both"}},
		{"event name missing", strings.Replace(head, "      - name: sh.keptn.event.test.triggered\n", "      - jsonpath: {property: $.data.x, match: y}\n", 1), []string{
			"job/config.yaml:5:9: actions[0].events[0].name: required: the event type to match (a regular expression)"}},
		{"event name bad regexp", strings.Replace(head, "sh.keptn.event.test.triggered", "sh.keptn.event.(test.triggered", 1), []string{
			"job/config.yaml:5:15: actions[0].events[0].name: not a valid regular expression: error parsing regexp: missing closing ): `sh.keptn.event.(test.triggered`"}},
		{"event of another kind", strings.Replace(head, "sh.keptn.event.test.triggered", "sh.keptn.event.deployment.finished", 1), []string{
			"job/config.yaml:5:7: actions[0].events: this action would never run: it matches no .triggered event, and actions run on .triggered events only (job-executor-service also ran them on other kinds, silently; this function does not). Match the .triggered event of the task that should run the Job"}},
		{"event of another kind, as a regular expression", strings.Replace(head, "sh.keptn.event.test.triggered", `'sh\.keptn\.event\..+\.started$'`, 1), []string{
			"job/config.yaml:5:7: actions[0].events: this action would never run: it matches no .triggered event, and actions run on .triggered events only (job-executor-service also ran them on other kinds, silently; this function does not). Match the .triggered event of the task that should run the Job"}},
		{"jsonpath without property", strings.Replace(head, "      - name: sh.keptn.event.test.triggered\n", "      - name: sh.keptn.event.test.triggered\n        jsonpath: {match: y}\n", 1), []string{
			"job/config.yaml:6:19: actions[0].events[0].jsonpath.property: required: a JSONPath into the event, e.g. $.data.test.teststrategy"}},
		{"jsonpath bad expression", strings.Replace(head, "      - name: sh.keptn.event.test.triggered\n", "      - name: sh.keptn.event.test.triggered\n        jsonpath:\n          property: $.data[\n          match: y\n", 1), []string{
			"job/config.yaml:7:21: actions[0].events[0].jsonpath.property: not a valid JSONPath expression: parsing error: $.data[\t:1:8 - 1:8 unexpected EOF while scanning extensions"}},
		{"jsonpath unknown field", strings.Replace(head, "      - name: sh.keptn.event.test.triggered\n", "      - name: sh.keptn.event.test.triggered\n        jsonpath: {property: $.data.x, value: y}\n", 1), []string{
			`job/config.yaml:6:40: actions[0].events[0].jsonpath.value: unknown field`}},
		{"onError bad", strings.Replace(head, "  - name: a\n", "  - name: a\n    onError: ignore\n", 1), []string{
			`job/config.yaml:4:14: actions[0].onError: must be one of fail, warn (got "ignore")`}},
		{"simplified form mixed with tasks", strings.Replace(head, "    tasks:\n", "    image: alpine\n    cmd: echo\n    tasks:\n", 1), []string{
			"job/config.yaml:6:5: actions[0].image: a task field on an action that has tasks: move it into a task, or drop tasks: to use the one-task form",
			"job/config.yaml:7:5: actions[0].cmd: a task field on an action that has tasks: move it into a task, or drop tasks: to use the one-task form"}},
		{"simplified form without image", "apiVersion: v2\nactions:\n  - name: a\n    event: x.y\n    cmd: echo\n", []string{
			"job/config.yaml:3:5: actions[0].image: required unless the task names a plugin"}},
		{"tasks empty", strings.Replace(head, "    tasks:\n      - name: t\n        image: alpine\n", "    tasks: []\n", 1), []string{
			"job/config.yaml:6:12: actions[0].tasks: required: an action needs at least one task"}},
		{"unknown action field", strings.Replace(head, "  - name: a\n", "  - name: a\n    sielnt: true\n", 1), []string{
			`job/config.yaml:4:5: actions[0].sielnt: unknown field (did you mean "silent"?)`}},

		// Tasks.
		{"task without name", strings.Replace(head, "      - name: t\n        image: alpine\n", "      - image: alpine\n", 1), []string{
			"job/config.yaml:7:9: actions[0].tasks[0].name: required: every task needs a name, unique within its action"}},
		{"duplicate task names", head + "      - name: t\n        image: bash\n", []string{
			`job/config.yaml:9:15: actions[0].tasks[1].name: duplicate task name "t" in this action (also actions[0].tasks[0], line 7)`}},
		{"task without image", strings.Replace(head, "        image: alpine\n", "        cmd: [echo]\n", 1), []string{
			"job/config.yaml:7:9: actions[0].tasks[0].image: required unless the task names a plugin"}},
		{"image with spaces", strings.Replace(head, "image: alpine", "image: alpine latest", 1), []string{
			`job/config.yaml:8:16: actions[0].tasks[0].image: not an image reference: it contains spaces or control characters (got "alpine latest")`}},
		{"unknown task field", head + "        imag: x\n", []string{
			`job/config.yaml:9:9: actions[0].tasks[0].imag: unknown field (did you mean "image"?)`}},
		{"imagePullPolicy", head + "        imagePullPolicy: Sometimes\n", []string{
			`job/config.yaml:9:26: actions[0].tasks[0].imagePullPolicy: must be one of Always, Never, IfNotPresent (got "Sometimes")`}},
		{"cmd mapping", head + "        cmd: {a: b}\n", []string{
			"job/config.yaml:9:14: actions[0].tasks[0].cmd: must be a string or a list of strings (got a mapping)"}},
		{"args as string", head + "        args: -c\n", []string{
			`job/config.yaml:9:15: actions[0].tasks[0].args: must be a list of strings (got "-c")`}},
		{"args item a list", head + "        args: [a, [b]]\n", []string{
			"job/config.yaml:9:19: actions[0].tasks[0].args[1]: must be a string (got a list)"}},
		{"files escaping the workspace", head + "        files: [ok.txt, ../etc/passwd]\n", []string{
			`job/config.yaml:9:25: actions[0].tasks[0].files[1]: the file fetcher would refuse it: invalid resource URI "../etc/passwd": contains the path element ".."`}},
		{"maxPollDuration zero", head + "        maxPollDuration: 0\n", []string{
			"job/config.yaml:9:26: actions[0].tasks[0].maxPollDuration: must be a positive number of seconds up to 604800 (7 days) (got 0)"}},
		// Two tasks at MaxInt64 summed to activeDeadlineSeconds -2 (issue 16 point 8).
		{"maxPollDuration MaxInt64", head + "        maxPollDuration: 9223372036854775807\n", []string{
			"job/config.yaml:9:26: actions[0].tasks[0].maxPollDuration: must be a positive number of seconds up to 604800 (7 days) (got 9223372036854775807)"}},
		{"maxPollDuration over a week", head + "        maxPollDuration: 604801\n", []string{
			"job/config.yaml:9:26: actions[0].tasks[0].maxPollDuration: must be a positive number of seconds up to 604800 (7 days) (got 604801)"}},
		{"runAsGroup 0", head + "        securityContext:\n          runAsGroup: 0\n", []string{
			"job/config.yaml:10:23: actions[0].tasks[0].securityContext.runAsGroup: 0 (the root group) is not allowed: jobs run as a non-root user and group"}},
		{"maxPollDuration quoted", head + "        maxPollDuration: \"300\"\n", []string{
			`job/config.yaml:9:26: actions[0].tasks[0].maxPollDuration: must be an integer (got "300")`}},
		{"ttl negative", head + "        ttlSecondsAfterFinished: -1\n", []string{
			"job/config.yaml:9:34: actions[0].tasks[0].ttlSecondsAfterFinished: must be between 0 and 2147483647 seconds (got -1)"}},
		{"task onError", head + "        onError: Warn\n", []string{
			`job/config.yaml:9:18: actions[0].tasks[0].onError: must be one of fail, warn (got "Warn")`}},
		{"new pod field on a task", head + "        workspaceSize: 1Gi\n", []string{
			"job/config.yaml:9:9: actions[0].tasks[0].workspaceSize: set workspaceSize on the action, not on a task: all tasks of an action run in one pod"}},
		{"tasks disagree on namespace", head + "        namespace: one\n      - name: u\n        image: alpine\n        namespace: two\n", []string{
			`job/config.yaml:12:20: actions[0].tasks[1].namespace: "two" differs from "one" (actions[0].tasks[0].namespace, line 9): all tasks of an action run in one pod, so they share one namespace`}},
		{"task disagrees with action on serviceAccount", strings.Replace(head, "  - name: a\n", "  - name: a\n    serviceAccount: one\n", 1) + "        serviceAccount: two\n", []string{
			`job/config.yaml:10:25: actions[0].tasks[0].serviceAccount: "two" differs from "one" (actions[0].serviceAccount, line 4): all tasks of an action run in one pod, so they share one service account`}},
		{"bad namespace", head + "        namespace: Keptn_Jobs\n", []string{
			`job/config.yaml:9:20: actions[0].tasks[0].namespace: not a valid namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?') (got "Keptn_Jobs")`}},
		{"annotations as a list (JES doc bug)", head + "        annotations:\n          - key1: value1\n", []string{
			"job/config.yaml:10:11: actions[0].tasks[0].annotations: must be a mapping of key: value, not a list (write `annotations: {key: value}`)"}},
		{"annotation key", head + "        annotations: {\"bad key\": x}\n", []string{
			`job/config.yaml:9:23: actions[0].tasks[0].annotations["bad key"]: not a valid annotation key: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`}},

		// Plugins.
		{"plugin with image and cmd", strings.Replace(head, "        image: alpine\n", "        plugin: p\n        image: alpine\n        cmd: [x]\n", 1), []string{
			"job/config.yaml:9:9: actions[0].tasks[0].image: not allowed on a plugin task: the plugin defines the image and command",
			"job/config.yaml:10:9: actions[0].tasks[0].cmd: not allowed on a plugin task: the plugin defines the image and command"}},
		{"with without plugin", head + "        with: {A: b}\n", []string{
			"job/config.yaml:9:9: actions[0].tasks[0].with: only allowed on a plugin task (add plugin: <name>, or use env)"}},
		{"with entry without =", strings.Replace(head, "        image: alpine\n", "        plugin: p\n        with: [A=1, B]\n", 1), []string{
			`job/config.yaml:9:21: actions[0].tasks[0].with[1]: must be KEY=VALUE (got "B")`}},
		{"with duplicate", strings.Replace(head, "        image: alpine\n", "        plugin: p\n        with: [A=1, A=2]\n", 1), []string{
			`job/config.yaml:9:21: actions[0].tasks[0].with[1]: duplicate parameter "A"`}},
		{"two unnamed tasks of one plugin", strings.Replace(head, "      - name: t\n        image: alpine\n", "      - plugin: p\n      - plugin: p\n", 1), []string{
			`job/config.yaml:8:9: actions[0].tasks[1].name: duplicate task name "p" in this action (also actions[0].tasks[0], line 7)`}},

		// Env.
		{"env valueFrom unknown", head + "        env:\n          - name: X\n            value: y\n            valueFrom: foo\n", []string{
			`job/config.yaml:12:24: actions[0].tasks[0].env[0].valueFrom: must be one of event, secret, string (got "foo")`}},
		{"env without name", head + "        env:\n          - value: y\n", []string{
			"job/config.yaml:10:13: actions[0].tasks[0].env[0].name: required: the variable's name"}},
		{"env name with =", head + "        env:\n          - name: A=B\n            value: y\n", []string{
			`job/config.yaml:10:19: actions[0].tasks[0].env[0].name: not a valid environment variable name: a valid environment variable name must consist only of printable ASCII characters other than '=' (got "A=B")`}},
		{"env duplicate", head + "        env:\n          - {name: A, value: x}\n          - {name: A, value: y}\n", []string{
			`job/config.yaml:11:20: actions[0].tasks[0].env[1].name: duplicate variable "A" (also actions[0].tasks[0].env[0], line 10)`}},
		{"env event without path", head + "        env:\n          - name: A\n            valueFrom: event\n", []string{
			"job/config.yaml:10:13: actions[0].tasks[0].env[0].value: required: a JSONPath into the event, e.g. $.data.deployment.deploymentURIsLocal[0]"}},
		{"env as without event", head + "        env:\n          - {name: A, value: x, as: json}\n", []string{
			"job/config.yaml:10:37: actions[0].tasks[0].env[0].as: only allowed with valueFrom: event"}},
		{"env as unknown", head + "        env:\n          - {name: A, value: $.data, valueFrom: event, as: xml}\n", []string{
			`job/config.yaml:10:60: actions[0].tasks[0].env[0].as: must be one of json, yaml, string (got "xml")`}},
		{"secretKeyRef without key", head + "        env:\n          - name: A\n            valueFrom:\n              secretKeyRef: {name: s}\n", []string{
			"job/config.yaml:12:29: actions[0].tasks[0].env[0].valueFrom.secretKeyRef.key: required: the key in the Secret"}},
		{"secretKeyRef with value", head + "        env:\n          - name: A\n            value: x\n            valueFrom: {secretKeyRef: {name: s, key: k}}\n", []string{
			"job/config.yaml:11:13: actions[0].tasks[0].env[0].value: not allowed with valueFrom.secretKeyRef"}},
		{"valueFrom mapping unknown", head + "        env:\n          - name: A\n            valueFrom: {configMapKeyRef: {name: s, key: k}}\n", []string{
			"job/config.yaml:11:24: actions[0].tasks[0].env[0].valueFrom.secretKeyRef: required: {name: <Secret>, key: <key>}",
			`job/config.yaml:11:25: actions[0].tasks[0].env[0].valueFrom.configMapKeyRef: unknown field`}},

		// Kubernetes fields.
		{"resources bad quantity", head + "        resources:\n          limits: {cpu: lots}\n", []string{
			`job/config.yaml:10:25: actions[0].tasks[0].resources.limits.cpu: must be a quantity such as 500m, 1, 128Mi or 1Gi (got "lots")`}},
		{"resources unknown resource", head + "        resources:\n          limits: {gpu: 1}\n", []string{
			"job/config.yaml:10:20: actions[0].tasks[0].resources.limits.gpu: unknown resource (want cpu, memory, ephemeral-storage or a domain-prefixed extended resource)"}},
		{"resources request over limit", head + "        resources:\n          limits: {memory: 128Mi}\n          requests: {memory: 1Gi}\n", []string{
			"job/config.yaml:11:30: actions[0].tasks[0].resources.requests.memory: 1Gi is more than limits.memory (128Mi)"}},
		{"securityContext unknown field", head + "        securityContext:\n          seLinuxOptions: {}\n", []string{
			"job/config.yaml:10:11: actions[0].tasks[0].securityContext.seLinuxOptions: unknown field"}},
		{"securityContext wrong type", head + "        securityContext:\n          runAsUser: root\n", []string{
			`job/config.yaml:10:22: actions[0].tasks[0].securityContext.runAsUser: must be an integer (got "root")`}},
		{"seccomp type", head + "        securityContext:\n          seccompProfile: {type: Strict}\n", []string{
			`job/config.yaml:10:34: actions[0].tasks[0].securityContext.seccompProfile.type: must be one of RuntimeDefault, Localhost, Unconfined (got "Strict")`}},
		{"seccomp localhost without profile", head + "        securityContext:\n          seccompProfile:\n            type: Localhost\n", []string{
			"job/config.yaml:11:13: actions[0].tasks[0].securityContext.seccompProfile.localhostProfile: required with type Localhost"}},
		{"procMount", head + "        securityContext: {procMount: Masked}\n", []string{
			`job/config.yaml:9:38: actions[0].tasks[0].securityContext.procMount: must be one of Default, Unmasked (got "Masked")`}},
		{"imagePullSecrets bad name", strings.Replace(head, "    tasks:\n", "    imagePullSecrets: [Reg_Cred]\n    tasks:\n", 1), []string{
			`job/config.yaml:6:24: actions[0].imagePullSecrets[0]: not a valid name: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*') (got "Reg_Cred")`}},
		{"workspaceSize", strings.Replace(head, "    tasks:\n", "    workspaceSize: big\n    tasks:\n", 1), []string{
			`job/config.yaml:6:20: actions[0].workspaceSize: must be a quantity such as 500m, 1, 128Mi or 1Gi (got "big")`}},
		{"workspaceSize zero", strings.Replace(head, "    tasks:\n", "    workspaceSize: 0\n    tasks:\n", 1), []string{
			"job/config.yaml:6:20: actions[0].workspaceSize: must be more than 0"}},
		{"nodeSelector value", strings.Replace(head, "    tasks:\n", "    nodeSelector: {disk: \"fast ssd\"}\n    tasks:\n", 1), []string{
			`job/config.yaml:6:26: actions[0].nodeSelector["disk"]: not a valid label value: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?') (got "fast ssd")`}},
		{"toleration operator", strings.Replace(head, "    tasks:\n", "    tolerations:\n      - key: a\n        operator: Maybe\n    tasks:\n", 1), []string{
			`job/config.yaml:8:19: actions[0].tolerations[0].operator: must be one of Equal, Exists (got "Maybe")`}},
		{"toleration unknown field", strings.Replace(head, "    tasks:\n", "    tolerations:\n      - key: a\n        efect: NoSchedule\n    tasks:\n", 1), []string{
			`job/config.yaml:8:9: actions[0].tolerations[0].efect: unknown field (did you mean "effect"?)`}},
		{"toleration seconds without NoExecute", strings.Replace(head, "    tasks:\n", "    tolerations:\n      - operator: Exists\n        tolerationSeconds: 5\n    tasks:\n", 1), []string{
			"job/config.yaml:8:28: actions[0].tolerations[0].tolerationSeconds: only allowed with effect NoExecute"}},
		{"affinity typo deep inside", strings.Replace(head, "    tasks:\n", "    affinity:\n      nodeAffinity:\n        requiredDuringSchedulingIgnoredDuringExecution:\n          nodeSelectorTerms:\n            - matchExpression: []\n    tasks:\n", 1), []string{
			`job/config.yaml:10:15: actions[0].affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpression: unknown field (did you mean "matchExpressions"?)`}},
		{"affinity operator", strings.Replace(head, "    tasks:\n", "    affinity:\n      podAffinity:\n        requiredDuringSchedulingIgnoredDuringExecution:\n          - topologyKey: zone\n            labelSelector:\n              matchExpressions:\n                - {key: app, operator: Is, values: [x]}\n    tasks:\n", 1), []string{
			`job/config.yaml:12:40: actions[0].affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator: must be one of In, NotIn, Exists, DoesNotExist (got "Is")`}},
		{"affinity weight", strings.Replace(head, "    tasks:\n", "    affinity:\n      podAntiAffinity:\n        preferredDuringSchedulingIgnoredDuringExecution:\n          - weight: 0\n            podAffinityTerm: {topologyKey: zone}\n    tasks:\n", 1), []string{
			"job/config.yaml:9:21: actions[0].affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight: must be between 1 and 100 (got 0)"}},

		// Many problems at once, in document order.
		{"all errors reported", "apiVersion: v3\nactions:\n  - name: a\n    events: [{name: x.y}]\n    tasks:\n      - name: t\n        image: alpine\n        imagePullPolicy: Maybe\n        env:\n          - {name: A, valueFrom: nope}\n", []string{
			"job/config.yaml:1:13: apiVersion: v3 is not supported, use v2",
			`job/config.yaml:8:26: actions[0].tasks[0].imagePullPolicy: must be one of Always, Never, IfNotPresent (got "Maybe")`,
			`job/config.yaml:10:34: actions[0].tasks[0].env[0].valueFrom: must be one of event, secret, string (got "nope")`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("job/config.yaml", []byte(tc.yaml))
			require.NotNil(t, cfg, "Parse returns what it could read even on errors")
			require.Error(t, err)
			var list ErrorList
			require.ErrorAs(t, err, &list)
			got := make([]string, len(list))
			for i, e := range list {
				got[i] = e.Error()
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseLimits(t *testing.T) {
	lim := Limits{MaxActions: 1, MaxEventsPerAction: 1, MaxTasksPerAction: 1, MaxEnvPerTask: 1, MaxFilesPerTask: 1}
	tests := []struct {
		name, yaml, want string
	}{
		{"actions", head + "  - name: b\n    event: x.y\n    image: alpine\n",
			"job/config.yaml:3:3: actions: too many actions (2, at most 1)"},
		{"events", strings.Replace(head, "    tasks:\n", "      - name: x.y\n    tasks:\n", 1),
			"job/config.yaml:5:7: actions[0].events: too many events (2, at most 1)"},
		{"tasks", head + "      - name: u\n        image: alpine\n",
			"job/config.yaml:7:7: actions[0].tasks: too many tasks (2, at most 1)"},
		{"env", head + "        env: [{name: A, value: x}, {name: B, value: y}]\n",
			"job/config.yaml:9:14: actions[0].tasks[0].env: too many entries (2, at most 1)"},
		{"files", head + "        files: [a, b]\n",
			"job/config.yaml:9:16: actions[0].tasks[0].files: too many files (2, at most 1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("job/config.yaml", []byte(tc.yaml), WithLimits(lim))
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			_, err = Parse("job/config.yaml", []byte(tc.yaml))
			assert.NoError(t, err, "within the default limits")
		})
	}

	t.Run("bytes", func(t *testing.T) {
		_, err := Parse("job/config.yaml", []byte(head), WithLimits(Limits{MaxBytes: 10}))
		require.Error(t, err)
		assert.Equal(t, "job/config.yaml:1:1: config is 141 bytes, at most 10 are allowed", err.Error())
	})
	t.Run("event name length", func(t *testing.T) {
		_, err := Parse("job/config.yaml", []byte(strings.Replace(head, "sh.keptn.event.test.triggered", strings.Repeat("a", 1025), 1)))
		require.Error(t, err)
		assert.Equal(t, "job/config.yaml:5:15: actions[0].events[0].name: too long (1025 bytes, at most 1024)", err.Error())
	})
	t.Run("alias expansion", func(t *testing.T) {
		// Each level doubles: 2^20 list items from a few hundred bytes.
		doc := "apiVersion: v2\nx0: &x0 [a, a]\n"
		for i := 1; i <= 20; i++ {
			doc += "x" + strconv.Itoa(i) + ": &x" + strconv.Itoa(i) + " [*x" + strconv.Itoa(i-1) + ", *x" + strconv.Itoa(i-1) + "]\n"
		}
		_, err := Parse("job/config.yaml", []byte(doc))
		require.Error(t, err)
		assert.Equal(t, "job/config.yaml:19:12: this alias makes the document expand to more than 1048576 YAML nodes (aliases included)", err.Error())
	})
}

// Anchors, aliases and merge keys are plain YAML and work as YAML says.
func TestParseAnchorsAndMerge(t *testing.T) {
	doc := `apiVersion: v2
defaults: &defaults
  image: alpine
actions:
  - name: a
    events: [{name: x.y}]
    tasks:
      - <<: *defaults
        name: t
        cmd: [echo]
      - <<: *defaults
        name: u
        image: bash
`
	_, err := Parse("job/config.yaml", []byte(doc))
	require.Error(t, err, "an unknown top-level key is still unknown")

	doc = strings.Replace(doc, "defaults: &defaults\n  image: alpine\n", "", 1)
	doc = strings.Replace(doc, "    tasks:\n      - <<: *defaults\n", "    tasks:\n      - &defaults\n        image: alpine\n      - <<: *defaults\n", 1)
	_, err = Parse("job/config.yaml", []byte(doc))
	require.Error(t, err, "the anchored task has no name")

	doc = strings.Replace(doc, "      - &defaults\n        image: alpine\n", "      - &defaults\n        name: base\n        image: alpine\n", 1)
	cfg, err := Parse("job/config.yaml", []byte(doc))
	require.NoError(t, err)
	tasks := cfg.Actions[0].Tasks
	require.Len(t, tasks, 3)
	assert.Equal(t, "alpine", tasks[1].Image, "merged")
	assert.Equal(t, "t", tasks[1].Name, "explicit keys win over merged ones")
	assert.Equal(t, "bash", tasks[2].Image)
}

func TestErrorListJSON(t *testing.T) {
	_, err := Parse("job/config.yaml", []byte(head+"        imag: x\n"))
	var list ErrorList
	require.ErrorAs(t, err, &list)
	b, jerr := json.Marshal(list)
	require.NoError(t, jerr)
	assert.JSONEq(t, `[{"file":"job/config.yaml","line":9,"column":9,"path":"actions[0].tasks[0].imag","message":"unknown field (did you mean \"image\"?)"}]`, string(b))
}

func TestErrorListForAction(t *testing.T) {
	doc := head + "        imagePullPolicy: x\n" +
		"  - name: b\n    event: y.z\n    image: alpine\n" +
		"  - name: c\n    event: y.z\n    image: alpine\n    cmd: {}\n"
	for i := 0; i < 9; i++ {
		doc += "  - name: n" + strconv.Itoa(i) + "\n    event: y.z\n    image: alpine\n"
	}
	doc += "  - name: last\n    event: y.z\n    image: alpine\n    args: {}\n"
	cfg, err := Parse("job/config.yaml", []byte(doc))
	var list ErrorList
	require.ErrorAs(t, err, &list)
	require.Len(t, list, 3)
	assert.Equal(t, list[:1], list.ForAction(0))
	assert.Empty(t, list.ForAction(1))
	assert.Equal(t, list[1:2], list.ForAction(2))
	assert.Equal(t, list[2:], list.ForAction(12))
	assert.Empty(t, list.ForAction(1), "actions[1] is not a prefix match for actions[12]")

	// The partial config still matches, so the function can fail exactly
	// the actions that would have run.
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, cfg.Match("y.z", nil))
}

// TestParseWarnings checks what is accepted but reported: things that work
// as in JES but probably not as the author meant.
func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"no actions", "apiVersion: v2\n", []string{
			"job/config.yaml:1:1: actions: no actions: this config never runs anything"}},
		{"ttl raised", head + "        ttlSecondsAfterFinished: 0\n", []string{
			"job/config.yaml:9:34: actions[0].tasks[0].ttlSecondsAfterFinished: 0 is raised to 60: a finished Job must live long enough to be reported"}},
		{"bare event name", strings.Replace(head, "sh.keptn.event.test.triggered", "test", 1), []string{
			`job/config.yaml:5:15: actions[0].events[0].name: matches only the event type "test" exactly (names are anchored; job-executor-service matched them anywhere in the type)`}},
		{"cmd string with spaces", head + "        cmd: echo hello\n", []string{
			`job/config.yaml:9:14: actions[0].tasks[0].cmd: "echo hello" is one executable name; to pass arguments write cmd as a list or use args`}},
		{"secret value ignored", head + "        env:\n          - {name: creds, value: x, valueFrom: secret}\n", []string{
			"job/config.yaml:10:27: actions[0].tasks[0].env[0].value: is ignored with valueFrom: secret, which imports every key of the Secret named by name (use valueFrom: {secretKeyRef: {name, key}} for one key)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("job/config.yaml", []byte(tc.yaml))
			require.NoError(t, err)
			got := make([]string, len(cfg.Warnings))
			for i, w := range cfg.Warnings {
				got[i] = w.Error()
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseTaskWithActionField(t *testing.T) {
	_, err := Parse("job/config.yaml", []byte(head+"        silent: true\n"))
	assert.EqualError(t, err, "job/config.yaml:9:9: actions[0].tasks[0].silent: a field of the action, not of a task")
}

// onError written on an action in the one-task form applies to its task;
// secretKeyRef takes optional.
func TestParseOneTaskOnErrorAndOptionalSecret(t *testing.T) {
	cfg := mustParse(t, `apiVersion: v2
actions:
  - name: a
    event: sh.keptn.event.test.triggered
    onError: warn
    image: alpine
    env:
      - name: TOKEN
        valueFrom: {secretKeyRef: {name: s, key: k, optional: true}}
`)
	task := cfg.Actions[0].Tasks[0]
	assert.Equal(t, OnErrorWarn, task.OnError)
	require.NotNil(t, task.Env[0].SecretKeyRef.Optional)
	assert.True(t, *task.Env[0].SecretKeyRef.Optional)
}
