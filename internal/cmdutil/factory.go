package cmdutil

import (
	"time"

	"github.com/ecapi/ecapi/internal/iostreams"
)

// GlobalOptions are the persistent flags every client verb shares. The root
// command binds them; after layering they hold flag > env > file > default.
type GlobalOptions struct {
	Server    string
	Pin       string
	CAFile    string
	Insecure  bool
	ConfigDir string
	Timeout   time.Duration
	Verbose   bool
}

// Factory carries the dependencies commands share, built lazily so that a
// verb pays only for what it uses (client verbs never load client-go).
type Factory struct {
	IOStreams *iostreams.IOStreams
	Globals   *GlobalOptions
	// Executable is the name the binary was invoked as, for hints.
	Executable string
}

// NewFactory returns a factory on the process's standard streams.
func NewFactory() *Factory {
	return &Factory{IOStreams: iostreams.System(), Globals: &GlobalOptions{}, Executable: "ecapi"}
}
