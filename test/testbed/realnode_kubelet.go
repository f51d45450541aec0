package testbed

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeletConfig is the kubelet's configuration on this host: cgroup v1
// with cgroupfs, swap tolerated, no iptables chains, serving and health on
// loopback only, clients authenticated by the bed's CA. Image GC is off
// because the images were imported and cannot be pulled again, and the
// eviction thresholds are low because the machine is shared.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
makeIPTablesUtilChains: false
address: 127.0.0.1
port: {{port}}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {{healthz}}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: "{{ca}}"}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: "unix://{{socket}}"
podLogsDir: "{{dir}}/pod-logs"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "100Mi"
  nodefs.available: "1%"
  imagefs.available: "1%"
  nodefs.inodesFree: "1%"
mergeDefaultEvictionSettings: false
rotateCertificates: false
serializeImagePulls: false
`

// startKubelet starts the kubelet with a client certificate of the node
// (Node authorization and NodeRestriction admit it), then points the node's
// address at loopback and waits until pods can be scheduled on it.
func (b *Bed) startKubelet(ctx context.Context) error {
	rn := b.real
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	rn.port = ports[0]
	kubeconfig := filepath.Join(rn.dir, "kubelet.kubeconfig")
	if err := b.writeNodeKubeconfig(kubeconfig); err != nil {
		return err
	}
	config := strings.NewReplacer("{{port}}", itoa(ports[0]), "{{healthz}}", itoa(ports[1]),
		"{{ca}}", b.pki.CACert, "{{socket}}", rn.socket(), "{{dir}}", rn.dir).Replace(kubeletConfig)
	configPath := filepath.Join(rn.dir, "kubelet.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return err
	}
	rn.kubelet, err = b.run("kubelet", b.bins.Kubelet, nil,
		"--config="+configPath,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+filepath.Join(rn.dir, "kubelet"),
		"--cert-dir="+filepath.Join(rn.dir, "kubelet-pki"),
		"--hostname-override="+RealNodeName,
		// Addresses the bed sets stay set (see setNodeIP).
		"--cloud-provider=external",
		"--v=1",
	)
	if err != nil {
		return err
	}
	if err := b.setNodeIP(ctx); err != nil {
		return err
	}
	return b.waitNodeSchedulable(ctx, RealNodeName)
}

// writeNodeKubeconfig issues the kubelet's client certificate
// (O=system:nodes, CN=system:node:<name>) and writes its kubeconfig.
func (b *Bed) writeNodeKubeconfig(path string) error {
	ca, err := b.pki.loadCA()
	if err != nil {
		return err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "system:node:" + RealNodeName, Organization: []string{"system:nodes"}},
		NotBefore:   now,
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	dir := filepath.Dir(path)
	certPEM, keyPEM, err := issue(tmpl, ca, filepath.Join(dir, "node.crt"), filepath.Join(dir, "node.key"))
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["testbed"] = &clientcmdapi.Cluster{Server: b.config.Host, CertificateAuthorityData: b.pki.caPEM}
	cfg.AuthInfos["node"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["node"] = &clientcmdapi.Context{Cluster: "testbed", AuthInfo: "node"}
	cfg.CurrentContext = "node"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("testbed: write the kubelet's kubeconfig: %w", err)
	}
	return nil
}
