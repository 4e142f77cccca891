package iostreams

import (
	"testing"
	"time"
)

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProgressLine(t *testing.T) {
	got := progressLine("bundle.tar.gz", 512<<20, 1<<30, 4*time.Second)
	want := "bundle.tar.gz  50% [============>           ] 512.0 MiB / 1.0 GiB  128.0 MiB/s  ETA 4s"
	if got != want {
		t.Errorf("progressLine =\n%q, want\n%q", got, want)
	}
	if got, want := progressLine("x", 2048, -1, time.Second), "x  2.0 KiB  2.0 KiB/s"; got != want {
		t.Errorf("unknown total: %q, want %q", got, want)
	}
}

func TestProgressDrawsOnlyOnTTY(t *testing.T) {
	ios, _, _, errOut := Test()
	p := ios.NewProgress("x", 10)
	_, _ = p.Write(make([]byte, 10))
	p.Finish()
	if errOut.Len() != 0 {
		t.Errorf("progress drew %q on a non-terminal", errOut.String())
	}
	ios.SetTTY(true)
	p = ios.NewProgress("x", 10)
	_, _ = p.Write(make([]byte, 10))
	p.Finish()
	if errOut.Len() == 0 {
		t.Error("progress drew nothing on a terminal")
	}
}
