// etcd server binary built from the published go.etcd.io/etcd/server/v3 module
// (its own go.mod replaces sibling modules with ../ paths, so it is not go-installable).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
