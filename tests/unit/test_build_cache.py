import pytest

from docker_tasks import build_cache, stores
from docker_tasks.errors import TaskError

REGISTRY = "type=registry,ref=localhost:5000/app:cache"


FORCED = ",compression=gzip,force-compression=true"


def test_an_export_gets_mode_max_and_one_forced_compression_unless_it_says_otherwise():
    assert build_cache.export_spec(REGISTRY) == REGISTRY + ",mode=max" + FORCED
    assert build_cache.export_spec(REGISTRY + ",mode=min") == REGISTRY + ",mode=min" + FORCED
    assert build_cache.export_spec("type=local,dest=/tmp/c") == "type=local,dest=/tmp/c,mode=max" + FORCED
    assert build_cache.export_spec(REGISTRY + ",compression=zstd") == \
        REGISTRY + ",compression=zstd,mode=max,force-compression=true"
    assert build_cache.export_spec(REGISTRY + ",force-compression=false") == \
        REGISTRY + ",force-compression=false,mode=max,compression=gzip"
    assert build_cache.export_spec("type=inline") == "type=inline"
    assert build_cache.export_spec("type=gha,scope=release") == "type=gha,scope=release,mode=max"


@pytest.mark.parametrize("spec", ["registry", "type=floppy", "ref=x", "type=registry,,ref=x"])
def test_a_malformed_cache_is_refused_with_the_forms(spec):
    with pytest.raises(TaskError, match="type=registry,ref=REGISTRY/NAME:cache"):
        build_cache.parse(spec, "--cache-to")


def test_the_classic_store_exports_inline_only_and_imports_everything():
    refused = build_cache.problem(None, REGISTRY, stores.CLASSIC, {})
    assert refused.startswith(f"--cache-to {REGISTRY}: with the classic image store") and "type=inline" in refused
    assert build_cache.problem(REGISTRY, "type=inline", stores.CLASSIC, {}) is None
    assert build_cache.problem(REGISTRY, REGISTRY, stores.CONTAINERD, {}) is None
    assert build_cache.problem(None, REGISTRY, None, {}) is None  # a dry run does not know the store


def test_the_gha_cache_needs_the_runtime_token_of_a_workflow():
    refused = build_cache.problem("type=gha", None, stores.CONTAINERD, {})
    assert "ACTIONS_RUNTIME_TOKEN is not set" in refused and "ghaction-github-runtime" in refused
    assert build_cache.problem("type=gha", "type=gha", stores.CONTAINERD, {"ACTIONS_RUNTIME_TOKEN": "t"}) is None
    assert build_cache.problem("type=gha,token=t,url=u", None, stores.CONTAINERD, {}) is None
