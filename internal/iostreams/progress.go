package iostreams

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressEvery throttles redraws of the progress line.
const progressEvery = 100 * time.Millisecond

// Progress draws a one-line progress bar (bytes, rate, ETA) on stderr
// while bytes are written to it. On anything but a terminal it draws
// nothing, so logs stay clean.
type Progress struct {
	w       io.Writer
	enabled bool
	label   string
	total   int64 // -1: unknown

	mu       sync.Mutex
	done     int64
	start    time.Time
	lastDraw time.Time
	width    int // of the last drawn line, to clear it
}

// NewProgress returns a bar for total bytes (-1 when unknown).
func (s *IOStreams) NewProgress(label string, total int64) *Progress {
	return &Progress{w: s.ErrOut, enabled: s.IsStderrTTY(), label: label, total: total, start: time.Now()}
}

// Write counts len(p) bytes; use it with io.TeeReader or io.MultiWriter.
func (p *Progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += int64(len(b))
	if p.enabled && time.Since(p.lastDraw) >= progressEvery {
		p.drawLocked(time.Now())
	}
	return len(b), nil
}

// Finish clears the bar.
func (p *Progress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.enabled && p.width > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.width))
		p.width = 0
	}
}

func (p *Progress) drawLocked(now time.Time) {
	p.lastDraw = now
	line := progressLine(p.label, p.done, p.total, now.Sub(p.start))
	pad := ""
	if n := p.width - len(line); n > 0 {
		pad = strings.Repeat(" ", n)
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
	p.width = len(line)
}

// progressLine renders "label  42% [=====>    ] 1.2 GiB / 3.0 GiB  85 MiB/s  ETA 21s".
func progressLine(label string, done, total int64, elapsed time.Duration) string {
	rate := 0.0
	if secs := elapsed.Seconds(); secs > 0 {
		rate = float64(done) / secs
	}
	rateText := FormatBytes(int64(rate)) + "/s"
	if total <= 0 {
		return fmt.Sprintf("%s  %s  %s", label, FormatBytes(done), rateText)
	}
	frac := min(float64(done)/float64(total), 1)
	const width = 24
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	eta := "--"
	if rate > 0 {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s %3.0f%% [%s] %s / %s  %s  ETA %s", label, frac*100, bar, FormatBytes(done), FormatBytes(total), rateText, eta)
}

// FormatBytes renders a size in binary units: 512 B, 1.5 KiB, 3.2 GiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
