// Command pause is the real node's sandbox image: it holds the pod's
// namespaces and waits until the runtime stops it. Upstream's pause is C;
// a static Go program does the same job and builds from this module.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
}
