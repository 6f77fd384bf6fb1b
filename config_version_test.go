package llmproxy

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestVersionFromBuildInfo checks where the default app_version comes
// from: this module's version as the main module or as a dependency, and
// "dev" when the build does not know it.
func TestVersionFromBuildInfo(t *testing.T) {
	dep := func(path, version string, replace *debug.Module) *debug.Module {
		return &debug.Module{Path: path, Version: version, Replace: replace}
	}
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want string
	}{
		{"the command, tagged", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v1.4.0"}}, "v1.4.0"},
		{"the command, from a commit", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "v0.0.0-20261202012000-2717244abcde+dirty"}}, "v0.0.0-20261202012000-2717244abcde+dirty"},
		{"the command, go run", debug.BuildInfo{Main: debug.Module{Path: modulePath, Version: "(devel)"}}, "dev"},
		{"the command, no version", debug.BuildInfo{Main: debug.Module{Path: modulePath}}, "dev"},
		{"a program importing the library", debug.BuildInfo{
			Main: debug.Module{Path: "example.com/app", Version: "v9.9.9"},
			Deps: []*debug.Module{dep("example.com/other", "v1.0.0", nil), dep(modulePath, "v1.3.2", nil)},
		}, "v1.3.2"},
		{"a replaced dependency", debug.BuildInfo{
			Main: debug.Module{Path: "example.com/app", Version: "v9.9.9"},
			Deps: []*debug.Module{dep(modulePath, "v1.3.2", dep("example.com/fork", "v1.3.3-fork", nil))},
		}, "v1.3.3-fork"},
		{"replaced by a directory", debug.BuildInfo{
			Main: debug.Module{Path: "example.com/app"},
			Deps: []*debug.Module{dep(modulePath, "v1.3.2", dep("../llmproxy", "", nil))},
		}, "dev"},
		{"not in the build", debug.BuildInfo{Main: debug.Module{Path: "example.com/app", Version: "v9.9.9"}}, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, versionFromBuildInfo(&tt.bi))
		})
	}
}

// TestAppVersionDefault checks that a proxy whose configuration sets no
// app_version reports the module's version (what /health shows), and that
// a set one is kept.
func TestAppVersionDefault(t *testing.T) {
	p := newFakeProxy(t, 0)
	assert.Equal(t, moduleVersion(), p.Config().AppVersion)
	assert.NotEmpty(t, p.Config().AppVersion)

	cfg, err := LoadConfigEnv(writeConfig(t, "app_version: \"2.0.0\"\n", ""), nil)
	assert.NoError(t, err)
	assert.Equal(t, "2.0.0", cfg.AppVersion)
}
