// The pod sandbox ("pause") process of the real node: it holds the pod's
// namespaces and waits until it is told to stop. Built static by build.sh.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	// As PID 1 it also reaps any orphan that ends up in its PID namespace.
	signal.Ignore(syscall.SIGCHLD)
	<-stop
}
