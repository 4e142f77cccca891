package iostreams

import "github.com/charmbracelet/lipgloss"

// Styles is every lipgloss style the CLI uses, in one place; commands call
// its render helpers and never build styles inline.
type Styles struct {
	Header  lipgloss.Style
	Success lipgloss.Style
	Warning lipgloss.Style
	Error   lipgloss.Style
	Muted   lipgloss.Style
	Code    lipgloss.Style
	Bold    lipgloss.Style
}

// Styles returns the styles for these streams: plain when colour is off.
func (s *IOStreams) Styles() Styles {
	if !s.ColorEnabled() {
		p := lipgloss.NewStyle()
		return Styles{p, p, p, p, p, p, p}
	}
	return Styles{
		Header:  lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("12")),
		Success: lipgloss.NewStyle().Foreground(lipgloss.Color("10")),
		Warning: lipgloss.NewStyle().Foreground(lipgloss.Color("11")),
		Error:   lipgloss.NewStyle().Foreground(lipgloss.Color("9")),
		Muted:   lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
		Code:    lipgloss.NewStyle().Foreground(lipgloss.Color("14")),
		Bold:    lipgloss.NewStyle().Bold(true),
	}
}
