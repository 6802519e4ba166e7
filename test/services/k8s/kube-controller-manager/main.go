// Entry point of kube-controller-manager as in k8s.io/kubernetes@v1.34.12/cmd/kube-controller-manager
// (Apache-2.0, The Kubernetes Authors): the command from the app package, run by component-base's cli.
package main

import (
	"os"
	_ "time/tzdata" // CronJob spec.timeZone needs the tz database in a static binary

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
