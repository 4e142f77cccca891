// Command ecapi is the Embedded Cluster external API daemon and its client.
package main

import (
	"os"

	"github.com/ecapi/ecapi/internal/cli"
)

func main() { os.Exit(int(cli.Main())) }
