// A minimal CoreDNS for the real node's cluster DNS: CoreDNS's server core and
// only the plugins its Corefile uses (tools/devenv/realnode.py writes it).
// CoreDNS's own main imports every plugin (core/plugin), whose dependencies
// include the cloud DNS providers' SDKs; importing the plugins one by one keeps
// the build to the server, the kubernetes plugin and client-go (already built
// for the kubelet). Built by coredns.sh.
package main

import (
	"github.com/coredns/coredns/coremain"

	// The plugins the Corefile names; they register themselves with the server.
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
