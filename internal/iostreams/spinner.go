package iostreams

import (
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// Spinner animates a status line on stderr while something is waited
// for. On anything but a terminal it draws nothing.
type Spinner struct {
	ios   *IOStreams
	start time.Time

	mu    sync.Mutex
	msg   string
	width int

	stop chan struct{}
	done chan struct{}
}

// StartSpinner starts a spinner showing msg and the elapsed time.
func (s *IOStreams) StartSpinner(msg string) *Spinner {
	sp := &Spinner{ios: s, msg: msg, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	if !s.IsStderrTTY() {
		close(sp.done)
		return sp
	}
	go sp.run()
	return sp
}

// Update replaces the message.
func (sp *Spinner) Update(msg string) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.msg = msg
}

// Stop stops the animation and clears its line. It is safe to call twice.
func (sp *Spinner) Stop() {
	select {
	case <-sp.stop:
	default:
		close(sp.stop)
	}
	<-sp.done
}

func (sp *Spinner) run() {
	defer close(sp.done)
	styles := sp.ios.Styles()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		sp.mu.Lock()
		line := fmt.Sprintf("%s %s (%s)", spinnerFrames[i%len(spinnerFrames)], sp.msg, time.Since(sp.start).Round(time.Second))
		pad := ""
		if n := sp.width - utf8.RuneCountInString(line); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(sp.ios.ErrOut, "\r%s%s", styles.Muted.Render(line), pad)
		sp.width = utf8.RuneCountInString(line)
		sp.mu.Unlock()
		select {
		case <-sp.stop:
			sp.mu.Lock()
			fmt.Fprintf(sp.ios.ErrOut, "\r%s\r", strings.Repeat(" ", sp.width))
			sp.mu.Unlock()
			return
		case <-tick.C:
		}
	}
}
