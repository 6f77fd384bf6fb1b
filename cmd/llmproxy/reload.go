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

// watchConfig reloads p from the file at path whenever the file or the
// .env beside it changes (written, created, renamed or deleted: deleting
// .env drops the keys it held) or a signal arrives on hup, until ctx ends.
// It watches the file's directory, so that editors that replace the file
// (write a new one, rename it over the old) are noticed too. A reload that
// fails leaves the old configuration serving and logs one line. A reload
// that changes settings read only at start (see startOnlySettings) applies
// the rest and logs a warning naming them; the process goes on with their
// old values until it is restarted. When the directory cannot be watched,
// only SIGHUP reloads, and a warning says so.
//
// The configuration of p when watchConfig is called is taken as the one
// the process started with.
func watchConfig(ctx context.Context, p *llmproxy.Proxy, path string, hup <-chan os.Signal, logger *slog.Logger) {
	running := p.Config() // the settings the process started with
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
	reload := func(why string) { reloadConfig(p, path, running, why, logger) }
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
				ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
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

// reloadConfig reloads p from the file at path and logs the outcome with
// trigger why: an error when the file is rejected; else "config reloaded",
// or a warning naming the changed settings that need a restart when the
// file's start-only settings differ from running, those the process
// started with; then the open-proxy warning when it applies (see
// warnIfOpen; the listener is still on running.Host).
func reloadConfig(p *llmproxy.Proxy, path string, running llmproxy.Config, why string, logger *slog.Logger) {
	if err := p.ReloadFile(path); err != nil {
		logger.Error("config reload rejected; the previous configuration keeps serving",
			"trigger", why, "config", path, "error", err.Error())
		return
	}
	next := p.Config()
	if keys := restartKeys(running, next); len(keys) > 0 {
		logger.Warn(msgReloadedNeedsRestart, "restart_needed", keys,
			"trigger", why, "config", path, "providers_active", countActive(p))
	} else {
		logger.Info("config reloaded", "trigger", why, "config", path, "providers_active", countActive(p))
	}
	warnIfOpen(logger, running.Host, next.AuthEnabled())
}
