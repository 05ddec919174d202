// Command nnp is the probe of the nonewprivs test image: installed setuid
// root, it prints its effective uid, which is 0 unless no_new_privs stopped
// the setuid bit from taking effect.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Printf("Effective uid: %d\n", os.Geteuid())
}
