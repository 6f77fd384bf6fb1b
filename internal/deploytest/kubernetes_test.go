package deploytest

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/llmproxy/llmproxy"
	_ "github.com/llmproxy/llmproxy/providers/all" // the types config.yaml names
	"github.com/llmproxy/llmproxy/server"
)

// manifests are the objects kustomize builds from deploy/kubernetes,
// decoded strictly into the Kubernetes API types.
type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
	pdbs        map[string]*policyv1.PodDisruptionBudget
}

// buildManifests runs kustomize (krusty, what kubectl kustomize runs) on
// deploy/kubernetes and decodes every object into its k8s.io/api type with
// sigs.k8s.io/json's UnmarshalStrict, the API server's own strict decoding
// (field names match case-sensitively; unknown and duplicate fields are
// errors), so that a misspelt or misplaced field, a bad quantity or an
// unknown kind fails.
func buildManifests(t *testing.T) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(repoRoot, "deploy", "kubernetes"))
	require.NoError(t, err)
	m := manifests{
		deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
	}
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		require.NoError(t, err)
		var tm metav1.TypeMeta
		require.NoError(t, yaml.Unmarshal(y, &tm))
		j, err := yaml.YAMLToJSON(y)
		require.NoError(t, err)
		decode := func(obj any, name string) {
			strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
			require.NoError(t, err, "%s %s", tm.Kind, name)
			assert.Empty(t, strict, "%s %s: unknown or duplicate fields:\n%s", tm.Kind, name, y)
		}
		name := r.GetName()
		switch gvk := tm.APIVersion + "/" + tm.Kind; gvk {
		case "apps/v1/Deployment":
			o := new(appsv1.Deployment)
			decode(o, name)
			m.deployments[name] = o
		case "v1/Service":
			o := new(corev1.Service)
			decode(o, name)
			m.services[name] = o
		case "v1/ConfigMap":
			o := new(corev1.ConfigMap)
			decode(o, name)
			m.configMaps[name] = o
		case "v1/Secret":
			o := new(corev1.Secret)
			decode(o, name)
			m.secrets[name] = o
		case "autoscaling/v2/HorizontalPodAutoscaler":
			o := new(autoscalingv2.HorizontalPodAutoscaler)
			decode(o, name)
			m.hpas[name] = o
		case "policy/v1/PodDisruptionBudget":
			o := new(policyv1.PodDisruptionBudget)
			decode(o, name)
			m.pdbs[name] = o
		default:
			t.Errorf("unexpected object %s %s", gvk, name)
		}
	}
	return m
}

// TestKubernetesManifests builds deploy/kubernetes and checks that the
// objects fit together: the Deployment's probes, graceful termination and
// resources, the ConfigMap's config.yaml (loaded by llmproxy itself with
// the Secret's keys), the Secret, the Service, the HPA, the PDB and Redis.
func TestKubernetesManifests(t *testing.T) {
	m := buildManifests(t)
	require.Len(t, m.deployments, 2, "llmproxy and its Redis")
	require.Len(t, m.configMaps, 1)
	require.Len(t, m.secrets, 1)
	require.Len(t, m.hpas, 1)
	require.Len(t, m.pdbs, 1)

	d := m.deployments["llmproxy"]
	require.NotNil(t, d, "Deployment llmproxy")
	pod := d.Spec.Template
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	require.NoError(t, err)
	require.True(t, sel.Matches(labels.Set(pod.Labels)), "the Deployment's selector matches its pods")
	require.Len(t, pod.Spec.Containers, 1)
	c := pod.Spec.Containers[0]
	assert.NotEqual(t, "llmproxy", c.Image, "kustomize's images: entry sets the image")
	assert.Empty(t, c.Command, "the image's ENTRYPOINT (config at %s) is kept", containerConfig)
	assert.Empty(t, c.Args)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}

	// The configuration: mounted where the image reads it, and valid for
	// llmproxy with the Secret's variables set.
	var cm *corev1.ConfigMap
	for _, v := range pod.Spec.Volumes {
		if v.ConfigMap != nil {
			cm = m.configMaps[v.ConfigMap.Name]
			require.NotNil(t, cm, "the config volume names the generated ConfigMap %q", v.ConfigMap.Name)
			mounted := false
			for _, vm := range c.VolumeMounts {
				mounted = mounted || (vm.Name == v.Name && vm.MountPath == filepath.Dir(containerConfig))
			}
			assert.True(t, mounted, "the ConfigMap is mounted at %s", filepath.Dir(containerConfig))
		}
	}
	require.NotNil(t, cm, "a ConfigMap volume")
	require.Contains(t, cm.Data, filepath.Base(containerConfig))
	require.Len(t, c.EnvFrom, 1)
	require.NotNil(t, c.EnvFrom[0].SecretRef)
	sec := m.secrets[c.EnvFrom[0].SecretRef.Name]
	require.NotNil(t, sec, "the Secret the pods take their keys from")
	for k, v := range sec.StringData {
		t.Setenv(k, v)
	}
	t.Setenv("PROXY_API_HOST", "0.0.0.0") // as the image sets it
	cfgFile := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(cm.Data["config.yaml"]), 0o600))
	cfg, err := llmproxy.LoadConfig(cfgFile)
	require.NoError(t, err, "config.yaml of the ConfigMap")
	local := cfg
	local.RedisURL = "" // the cluster's Redis is not reachable from the test
	p, err := llmproxy.New(local)
	require.NoError(t, err)
	for _, pi := range p.Providers() {
		assert.True(t, pi.Active, "provider %s has its key from the Secret", pi.Name)
	}
	require.NoError(t, p.Close())
	assert.NotEmpty(t, cfg.APIKeys, "client keys (PROXY_API_API_KEYS) come from the Secret")
	assert.Equal(t, ports["http"], int32(cfg.Port), "the container port is the configured one")
	assert.Positive(t, cfg.MaxInflight, "max_inflight bounds a pod's memory")

	// Probes: readiness on /health, liveness on the cheap /livez.
	require.NotNil(t, c.ReadinessProbe)
	require.NotNil(t, c.ReadinessProbe.HTTPGet)
	assert.Equal(t, "/health", c.ReadinessProbe.HTTPGet.Path)
	assert.Contains(t, ports, c.ReadinessProbe.HTTPGet.Port.String())
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.LivenessProbe.HTTPGet)
	assert.Equal(t, "/livez", c.LivenessProbe.HTTPGet.Path)
	assert.Contains(t, ports, c.LivenessProbe.HTTPGet.Port.String())

	// Graceful termination: preStop (endpoints removed first), then
	// shutdown_timeout for the streams, all within the grace period; a
	// liveness failure cannot cut the shutdown short.
	require.NotNil(t, c.Lifecycle)
	require.NotNil(t, c.Lifecycle.PreStop)
	require.NotNil(t, c.Lifecycle.PreStop.Sleep, "a preStop sleep action (no sleep binary in distroless)")
	preStop := c.Lifecycle.PreStop.Sleep.Seconds
	assert.Positive(t, preStop)
	require.NotNil(t, pod.Spec.TerminationGracePeriodSeconds)
	grace := *pod.Spec.TerminationGracePeriodSeconds
	shutdown := int64(cfg.ShutdownTimeout.Seconds())
	assert.Greater(t, grace, preStop+shutdown+int64(server.FinalWriteTimeout.Seconds()), "terminationGracePeriodSeconds > preStop + shutdown_timeout + the final write")
	lp := c.LivenessProbe
	assert.Greater(t, int64(lp.PeriodSeconds)*int64(lp.FailureThreshold), shutdown, "liveness outlasts the shutdown")

	// Resources from docs/performance.md: the request and the memory
	// limit cover max_inflight open streams.
	req := c.Resources.Requests
	assert.False(t, req.Cpu().IsZero(), "a CPU request (the HPA's basis)")
	assert.False(t, req.Memory().IsZero(), "a memory request")
	limit := c.Resources.Limits.Memory()
	require.False(t, limit.IsZero(), "a memory limit")
	need := resource.NewQuantity(int64(restMB+perThousandStreamsMB*float64(cfg.MaxInflight)/1000)<<20, resource.BinarySI)
	assert.True(t, limit.Cmp(*need) >= 0, "memory limit %s < %s for max_inflight %d streams", limit, need, cfg.MaxInflight)

	// Pods run as non-root with a read-only root.
	require.NotNil(t, pod.Spec.SecurityContext)
	require.NotNil(t, pod.Spec.SecurityContext.RunAsNonRoot)
	assert.True(t, *pod.Spec.SecurityContext.RunAsNonRoot)
	require.NotNil(t, c.SecurityContext)
	require.NotNil(t, c.SecurityContext.ReadOnlyRootFilesystem)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)

	// Service, HPA and PDB point at the pods.
	svc := m.services["llmproxy"]
	require.NotNil(t, svc, "Service llmproxy")
	assert.True(t, labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pod.Labels)), "the Service selects the pods")
	require.Len(t, svc.Spec.Ports, 1)
	assert.Contains(t, ports, svc.Spec.Ports[0].TargetPort.String())
	for _, h := range m.hpas {
		assert.Equal(t, "Deployment", h.Spec.ScaleTargetRef.Kind)
		assert.Equal(t, d.Name, h.Spec.ScaleTargetRef.Name)
		require.NotNil(t, h.Spec.MinReplicas)
		assert.GreaterOrEqual(t, *h.Spec.MinReplicas, int32(2), "replicas share the load and survive one loss")
		assert.Greater(t, h.Spec.MaxReplicas, *h.Spec.MinReplicas)
		require.NotEmpty(t, h.Spec.Metrics)
	}
	for _, b := range m.pdbs {
		s, err := metav1.LabelSelectorAsSelector(b.Spec.Selector)
		require.NoError(t, err)
		assert.True(t, s.Matches(labels.Set(pod.Labels)), "the PDB covers the pods")
	}

	// Redis: the Service that redis_url names, in front of a redis-server.
	u, err := url.Parse(cfg.RedisURL.Reveal())
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(u.Host)
	require.NoError(t, err)
	rsvc := m.services[host]
	require.NotNil(t, rsvc, "redis_url's host %q is a Service", host)
	require.Len(t, rsvc.Spec.Ports, 1)
	assert.Equal(t, port, strconv.Itoa(int(rsvc.Spec.Ports[0].Port)))
	var redisPods *corev1.PodTemplateSpec
	for _, rd := range m.deployments {
		if labels.SelectorFromSet(rsvc.Spec.Selector).Matches(labels.Set(rd.Spec.Template.Labels)) {
			redisPods = &rd.Spec.Template
		}
	}
	require.NotNil(t, redisPods, "a Deployment behind the Redis Service")
	require.NotEmpty(t, redisPods.Spec.Containers)
	assert.Contains(t, redisPods.Spec.Containers[0].Image, "redis")
}

// Memory figures of docs/performance.md ("1,000 open streams"): 24 MB at
// rest, 85 MB with 1,000 open streams.
const (
	restMB               = 24.0
	perThousandStreamsMB = 85.0 - restMB
)
