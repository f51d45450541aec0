package dl
import (
 _ "knative.dev/eventing/pkg/apis/sources/v1"
 _ "knative.dev/eventing/pkg/apis/eventing/v1"
 _ "knative.dev/pkg/logging"
 _ "github.com/cloudevents/sdk-go/v2"
 _ "k8s.io/client-go/kubernetes"
 _ "github.com/keptn/go-utils/pkg/lib/v0_2_0"
 _ "github.com/keptn/go-utils/pkg/api/utils/v2"
 _ "github.com/stretchr/testify/require"
 _ "gopkg.in/yaml.v3"
 _ "github.com/PaesslerAG/jsonpath"
 _ "sigs.k8s.io/yaml"
)
