// Package fetchbundle implements `ecapi fetch-bundle`.
package fetchbundle

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ecapi/ecapi/internal/cmdutil"
	"github.com/ecapi/ecapi/internal/iostreams"
	"github.com/ecapi/ecapi/pkg/client"
)

// FetchBundleOptions holds the flags and dependencies of `ecapi fetch-bundle`.
type FetchBundleOptions struct {
	IO      *iostreams.IOStreams
	Globals *cmdutil.GlobalOptions

	Roles     []string
	File      string
	OutputDir string
	Extract   string
}

// NewCmdFetchBundle builds the command; runF replaces the run function in tests.
func NewCmdFetchBundle(f *cmdutil.Factory, runF func(*FetchBundleOptions) error) *cobra.Command {
	opts := &FetchBundleOptions{IO: f.IOStreams, Globals: f.Globals}
	cmd := &cobra.Command{
		Use:   "fetch-bundle",
		Short: "Download (and optionally extract and verify) a join bundle",
		Long: `Download GET /v1/join-bundle into a temporary file next to the target,
synced and renamed into place when complete, so that an interrupted or
failed download (Ctrl-C included) leaves nothing behind. A dropped
connection is resumed where the server supports it.

The file is named as the server suggests (Content-Disposition; a name that
is not a plain *.tar.gz base name is refused), in --output-dir or the
current directory, or exactly -O FILE; -O - writes to stdout. It is
created 0600: it holds a join token and the license.

With --extract DIR, the bundle is also unpacked into DIR (refusing absolute
paths, "..", links leaving DIR and device files) and every file listed in
its SHA256SUMS is verified.

On stdout: the bundle's path (one line) when piped; a summary on a
terminal, with a progress bar on stderr while downloading.`,
		Example: `  ecapi fetch-bundle --roles controller
  ecapi fetch-bundle --roles worker,gpu --output-dir /tmp --extract /tmp/join
  ecapi fetch-bundle --roles controller -O - | ssh new-host 'tar xzf -'`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmdutil.ValidateRoles(opts.Roles); err != nil {
				return err
			}
			if err := cmdutil.MutuallyExclusive("specify only one of -O/--output-file and --output-dir", opts.File != "", opts.OutputDir != ""); err != nil {
				return err
			}
			if opts.File == "-" && opts.Extract != "" {
				return cmdutil.FlagErrorf("--extract needs the bundle on disk: it cannot be used with -O -")
			}
			if runF != nil {
				return runF(opts)
			}
			ctx, cancel := cmdutil.CommandContext(cmd.Context(), opts.Globals, 0)
			defer cancel()
			return fetchBundleRun(ctx, opts)
		},
	}
	cmd.Flags().StringSliceVar(&opts.Roles, "roles", nil, "comma-separated role names from the EC config (required)")
	cmd.Flags().StringVarP(&opts.File, "output-file", "O", "", "write the bundle to this file, - for stdout (default: the server's file name)")
	cmd.Flags().StringVar(&opts.OutputDir, "output-dir", "", "write the bundle into this directory (default: the current one)")
	cmd.Flags().StringVar(&opts.Extract, "extract", "", "also extract the bundle into this directory and verify SHA256SUMS")
	_ = cmd.RegisterFlagCompletionFunc("roles", cmdutil.CompleteRoles(f))
	return cmd
}

func fetchBundleRun(ctx context.Context, opts *FetchBundleOptions) error {
	ios, styles := opts.IO, opts.IO.Styles()
	c, err := cmdutil.NewClient(ios, opts.Globals)
	if err != nil {
		return err
	}
	bundle, err := c.JoinBundle(ctx, opts.Roles)
	if err != nil {
		return err
	}
	defer bundle.Body.Close()

	if opts.File == "-" {
		progress := ios.NewProgress("bundle", bundle.Size)
		defer progress.Finish()
		if _, err := io.Copy(ios.Out, io.TeeReader(bundle.Body, progress)); err != nil {
			return fmt.Errorf("download bundle: %w", err)
		}
		return nil
	}

	dest, err := destination(opts, bundle)
	if err != nil {
		return err
	}
	progress := ios.NewProgress(filepath.Base(dest), bundle.Size)
	written, err := download(ctx, bundle, dest, progress)
	progress.Finish()
	if err != nil {
		return err
	}
	if ios.IsStdoutTTY() {
		fmt.Fprintf(ios.Out, "%s Saved %s (%s)\n", styles.Success.Render("✓"), dest, iostreams.FormatBytes(written))
	} else {
		fmt.Fprintln(ios.Out, dest)
	}
	if opts.Extract == "" {
		return nil
	}

	sums, err := extractArchive(ctx, dest, opts.Extract)
	if err != nil {
		return fmt.Errorf("extract %s into %s: %w", dest, opts.Extract, err)
	}
	n, err := verifySums(opts.Extract, sums)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.Extract, err)
	}
	msg := fmt.Sprintf("Extracted into %s and verified %d files against %s", opts.Extract, n, sumsFile)
	if ios.IsStdoutTTY() {
		fmt.Fprintf(ios.Out, "%s %s\n", styles.Success.Render("✓"), msg)
	} else {
		fmt.Fprintln(ios.ErrOut, msg)
	}
	return nil
}

// destination is -O, or the server's file name in --output-dir (default:
// the current directory) once checked to be a plain bundle name.
func destination(opts *FetchBundleOptions, b *client.Bundle) (string, error) {
	if opts.File != "" {
		return opts.File, nil
	}
	dir := opts.OutputDir
	if dir == "" {
		dir = "."
	}
	name := b.FileName
	if name == "" {
		name = "join-bundle-" + strings.Join(opts.Roles, "-") + ".tar.gz"
	}
	safe, err := client.SafeFileName(name)
	if err != nil {
		return "", fmt.Errorf("the server suggested an unsafe file name: %w; pass -O FILE", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return filepath.Join(dir, safe), nil
}

// download streams the bundle into a pending file beside dest and moves
// it to dest when complete. On any failure, or when ctx is cancelled, the
// pending file is dropped: dest is either complete or untouched.
func download(ctx context.Context, b *client.Bundle, dest string, progress io.Writer) (written int64, err error) {
	tmp, err := createPending(dest)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tmp.discard()
		}
	}()
	written, err = io.Copy(tmp, io.TeeReader(b.Body, progress))
	if ctxErr := ctx.Err(); ctxErr != nil {
		return written, fmt.Errorf("download interrupted after %s (%w); removed the partial file", iostreams.FormatBytes(written), ctxErr)
	}
	if err != nil {
		return written, fmt.Errorf("download bundle: %w; removed the partial file", err)
	}
	if b.Size >= 0 && written != b.Size {
		return written, fmt.Errorf("download bundle: got %d of %d bytes; removed the partial file", written, b.Size)
	}
	if err := tmp.commit(); err != nil {
		return written, err
	}
	// The rename is done; a failed directory sync only weakens durability.
	_ = cmdutil.SyncDir(filepath.Dir(dest))
	return written, nil
}
