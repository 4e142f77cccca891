package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// PauseEtcd freezes etcd (SIGSTOP): the kube-apiserver stays up but every
// read and write hangs, as with a slow or stuck disk. ResumeEtcd undoes it.
func (e *Env) PauseEtcd() error { return e.signalEtcd(syscall.SIGSTOP) }

// ResumeEtcd lets a paused etcd run again (SIGCONT).
func (e *Env) ResumeEtcd() error { return e.signalEtcd(syscall.SIGCONT) }

// signalEtcd finds this environment's etcd by its client URL (envtest does
// not expose the process) and signals it.
func (e *Env) signalEtcd(sig syscall.Signal) error {
	etcd := e.env.ControlPlane.Etcd
	if etcd == nil || etcd.URL == nil {
		return fmt.Errorf("etcd is not running")
	}
	want := []byte("--listen-client-urls=" + etcd.URL.String())
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		return err
	}
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(cmdline, want) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		return syscall.Kill(pid, sig)
	}
	return fmt.Errorf("no etcd process listening on %s", etcd.URL)
}
