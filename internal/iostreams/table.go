package iostreams

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/lipgloss/table"
)

// TablePrinter prints rows to stdout: a lipgloss table on a terminal,
// plain columns aligned with spaces (stable for scripts) otherwise.
type TablePrinter struct {
	ios    *IOStreams
	header []string
	rows   [][]string
}

// NewTablePrinter starts a table with these column titles.
func (s *IOStreams) NewTablePrinter(header ...string) *TablePrinter {
	return &TablePrinter{ios: s, header: header}
}

// AddRow appends a row; cells may be styled with Styles on a terminal.
func (t *TablePrinter) AddRow(cells ...string) { t.rows = append(t.rows, cells) }

// Render writes the table.
func (t *TablePrinter) Render() error {
	if t.ios.IsStdoutTTY() {
		return t.renderStyled()
	}
	tw := tabwriter.NewWriter(t.ios.Out, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func (t *TablePrinter) renderStyled() error {
	styles := t.ios.Styles()
	last := len(t.header) - 1
	tbl := table.New().
		Border(lipgloss.NormalBorder()).
		BorderTop(false).BorderBottom(false).BorderLeft(false).BorderRight(false).
		BorderColumn(false).BorderHeader(true).
		BorderStyle(styles.Muted).
		Headers(t.header...).
		Rows(t.rows...).
		StyleFunc(func(row, col int) lipgloss.Style {
			s := lipgloss.NewStyle()
			if col != last {
				s = s.PaddingRight(3)
			}
			if row == table.HeaderRow {
				s = s.Inherit(styles.Header)
			}
			return s
		})
	// lipgloss pads the last column to its width; trailing blanks only
	// get in the way of copy and paste.
	lines := strings.Split(tbl.Render(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	_, err := fmt.Fprintln(t.ios.Out, strings.Join(lines, "\n"))
	return err
}
