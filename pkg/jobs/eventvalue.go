package jobs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/PaesslerAG/jsonpath"

	"github.com/keptn-sandbox/job-executor-knative/pkg/config"
)

// eventValue evaluates a `valueFrom: event` env entry.
// TEMPORARY until pkg/config exports Lookup/FormatValue.
func eventValue(e config.Env, doc map[string]any) (string, error) {
	v, err := jsonpath.Get(e.Value, any(doc))
	if err != nil {
		return "", err
	}
	_ = context.Background
	switch v.(type) {
	case map[string]any, []any:
		b, err := json.Marshal(v)
		return string(b), err
	}
	return fmt.Sprint(v), nil
}
