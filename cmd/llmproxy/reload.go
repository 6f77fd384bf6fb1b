package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/llmproxy/llmproxy"
)

// reloadDebounce groups the burst of file events one save makes (editors
// write, rename and chmod) into one reload.
const reloadDebounce = 100 * time.Millisecond

// watchConfig reloads p from the file at path whenever the file changes or
// a signal arrives on hup, until ctx ends. It watches the file's directory,
// so that editors that replace the file (write a new one, rename it over
// the old) are noticed too. A reload that fails leaves the old
// configuration serving and logs one line. When the directory cannot be
// watched, only SIGHUP reloads, and a warning says so.
func watchConfig(ctx context.Context, p *llmproxy.Proxy, path string, hup <-chan os.Signal, logger *slog.Logger) {
	abs, _ := filepath.Abs(path)
	envFile := filepath.Join(filepath.Dir(abs), ".env")
	var (
		events <-chan fsnotify.Event
		errs   <-chan error
	)
	w, err := fsnotify.NewWatcher()
	if err == nil {
		defer w.Close()
		err = w.Add(filepath.Dir(abs))
	}
	if err != nil {
		logger.Warn("config file is not watched; SIGHUP still reloads it", "error", err.Error())
	} else {
		events, errs = w.Events, w.Errors
	}

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	reload := func(why string) {
		if err := p.ReloadFile(path); err != nil {
			logger.Error("config reload rejected; the previous configuration keeps serving",
				"trigger", why, "config", path, "error", err.Error())
			return
		}
		logger.Info("config reloaded", "trigger", why, "config", path, "providers_active", countActive(p))
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload("SIGHUP")
		case ev, ok := <-events:
			if !ok {
				return
			}
			if name := filepath.Clean(ev.Name); (name == abs || name == envFile) &&
				ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				debounce.Reset(reloadDebounce)
			}
		case err, ok := <-errs:
			if !ok {
				return
			}
			logger.Warn("config watcher error", "error", err.Error())
		case <-debounce.C:
			reload("file change")
		}
	}
}
