"""Login, push and pull against a real registry on loopback (see the `registry` fixture)."""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from docker_tasks import stores
from docker_tasks.tables import human_size
from tests.integration.support import free_port, in_a_terminal, renew_requirements_step, requirements_step_ran

pytestmark = pytest.mark.image_store  # images: how they are listed, sized, removed, pushed


@pytest.fixture
def client_env(tmp_path):
    """A Docker CLI config of the test's own (your logins are never touched), and a `docker`
    stand-in first on PATH that records every argument list it is given and runs the real one."""
    shim = tmp_path / "bin"
    shim.mkdir()
    arguments = tmp_path / "docker-argv.log"
    (shim / "docker").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {arguments}\nexec {shutil.which("docker")} "$@"\n')
    (shim / "docker").chmod(0o755)
    config = tmp_path / "docker-config"
    config.mkdir()
    env = {"DOCKER_CONFIG": str(config), "PATH": f"{shim}:{os.environ['PATH']}"}
    return env, arguments, config


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def login_env(registry, client_env, password=None):
    env, _, _ = client_env
    return {**env, "REGISTRY_USERNAME": registry.username, "REGISTRY_PASSWORD": password or registry.password}


@pytest.fixture
def shipped(make_project, registry, client_env):
    project = make_project()
    ok(project.inv("build"))
    outputs = [ok(project.inv("login", "--registry", registry.host, env=login_env(registry, client_env)))]
    return project, outputs


def test_push_remove_and_pull_back_by_digest(shipped, registry, client_env, engine):
    project, outputs = shipped
    env, arguments, config = client_env
    assert registry.host in json.loads((config / "config.json").read_text())["auths"]  # as `docker login` stores it

    pushed = ok(project.inv("push", "--registry", registry.host, env=env))
    outputs.append(pushed)
    repository = f"{registry.host}/{project.image_name}"
    digest = re.search(rf"pushed {re.escape(repository)}@(sha256:[0-9a-f]{{64}})", pushed.stdout).group(1)
    assert re.search(r"^  layer [0-9a-f]+: (pushed|already there|mounted from \S+)$", pushed.stdout, re.M)
    assert "{" not in pushed.stdout  # progress per layer, not a wall of JSON
    sbom_tag = digest.replace(":", "-") + ".sbom"  # its SBOM, beside it
    assert set(registry.tags(project.image_name)) == {project.head(True), "latest", sbom_tag}

    listing = ok(project.inv("images", env=env)).stdout
    assert f"{repository}@{digest}" in listing

    local = engine.images.get(f"{project.image_name}:latest")
    image_id, content = local.id, same_image(local.attrs)
    for tag in (project.head(True), "latest"):
        engine.images.remove(f"{repository}:{tag}")
    ok(project.inv("rmi", "--all", "--force"))
    assert not any(image.id == image_id for image in engine.images.list())

    reference = f"{repository}@{digest}"
    outputs.append(ok(project.inv("pull", reference, env=env)))
    assert f"{repository}@{digest}" in engine.images.get(reference).attrs["RepoDigests"]
    assert same_image(engine.images.get(reference).attrs) == content  # the very image that was pushed
    ran = ok(project.inv("run", "--image", reference, "--", "train", "--n-estimators", "5", env=env))
    assert "train finished" in ran.stdout

    printed = "".join(r.stdout + r.stderr for r in outputs + [ran, pushed])
    assert registry.password not in printed
    assert registry.password not in arguments.read_text()
    assert "--password-stdin" in arguments.read_text()


def test_a_push_says_what_it_sent_against_what_the_registry_had_as_its_disk_does(make_project, registry,
                                                                                 client_env):
    """After a code-only change, the push sends the code's layer; what it says it sent, the registry's
    disk gains (with the manifests and the SBOM), and `inv images` shows the compressed size."""
    project = make_project()
    env, _, _ = client_env
    ok(project.inv("login", "--registry", registry.host, env=login_env(registry, client_env)))
    ok(project.inv("build"))
    first = ok(project.inv("push", "--registry", registry.host, env=env)).stdout
    assert re.search(r"^sent \S+ \(\d+ of \d+ layers\); the registry already had \S+, [\d.]+% of the image's \S+ "
                     r"compressed$", first, re.M)
    project.commit_change("a code-only change")
    ok(project.inv("build"))
    stored = registry.stored_bytes()
    second = ok(project.inv("push", "--registry", registry.host, env=env)).stdout
    grown = registry.stored_bytes() - stored
    pushes = json.loads((project.root / ".dockertasks" / "pushes.json").read_text())
    recorded, latest = pushes[-2:]  # the build's tag, which sent the layer, then latest, which found it there
    assert recorded["reference"].endswith(project.head(True)) and latest["sent_bytes"] == 0
    sent_layers, layers = map(int, re.search(r"^sent \S+ \((\d+) of (\d+) layers\)", second, re.M).groups())
    assert sent_layers == 1 and layers >= 5  # the code's layer alone
    assert 0 < recorded["sent_bytes"] < 0.01 * recorded["pushed_bytes"]
    assert recorded["sent_bytes"] <= grown < recorded["sent_bytes"] + 200_000  # manifests, configs, the SBOM
    header, *rows = ok(project.inv("images", env=env)).stdout.splitlines()
    row = next(line for line in rows if line.startswith(project.head(True)))
    assert row[header.index("PUSHED"):].split()[0] == human_size(recorded["pushed_bytes"])


def test_a_one_package_change_pushes_that_packages_layer_and_the_apps(make_project, registry, client_env):
    """The virtualenv is 16 layers (docker_tasks/launcher/venv_layers.py): a package added to the
    lock changes its bucket's layer, and the push sends that layer and /app's; the others, the
    registry already has."""
    project = make_project()
    env, _, _ = client_env
    ok(project.inv("login", "--registry", registry.host, env=login_env(registry, client_env)))
    ok(project.inv("build"))
    ok(project.inv("push", "--registry", registry.host, env=env))
    requirements = project.root / "requirements.txt"
    requirements.write_text(requirements.read_text() + "idna==3.10\n")
    ok(project.inv("lock"))
    subprocess.run(["git", "commit", "-qam", "idna"], cwd=project.root, check=True)  # the code unchanged
    assert "idna==3.10" in (project.root / "requirements.lock").read_text()
    ok(project.inv("build"))
    second = ok(project.inv("push", "--registry", registry.host, env=env)).stdout
    sent_layers, layers = map(int, re.search(r"^sent \S+ \((\d+) of (\d+) layers\)", second, re.M).groups())
    recorded = json.loads((project.root / ".dockertasks" / "pushes.json").read_text())[-2]
    # idna's bucket, and the layer of /app, which holds the requirements files beside src/
    assert layers >= 16 and sent_layers == 2, second
    assert 0 < recorded["sent_bytes"] < 0.01 * recorded["pushed_bytes"], second
    assert "3.10" in ok(project.inv("run", "--entrypoint", "python", "--", "-c",
                                    "import idna; print(idna.__version__)", env=env)).stdout


def same_image(attrs: dict) -> tuple:
    """What makes two images the same, on either store: their layers' contents and their config.
    (On the containerd store an image's id is its manifest's digest, which compression changes.)"""
    return attrs["RootFS"]["Layers"], attrs["Config"], attrs["Created"], attrs["Architecture"]


def test_push_reports_the_digest_the_registry_holds_and_compresses_every_layer(shipped, registry, client_env,
                                                                               engine):
    """What the registry serves for the tag is the digest inv push printed and recorded; its config
    is the local image's own, and every layer is gzip, whatever the store keeps locally."""
    project, _ = shipped
    env, _, _ = client_env
    pushed = ok(project.inv("push", "--registry", registry.host, "--tag", "latest", env=env)).stdout
    printed = re.search(r"^pushed \S+@(sha256:[0-9a-f]{64})$", pushed, re.M).group(1)
    assert registry.manifest_digest(project.image_name, "latest") == printed
    recorded = json.loads((project.root / ".dockertasks" / "pushes.json").read_text())[-1]
    assert recorded["digest"] == printed and recorded["compression"] == "gzip"
    manifest = registry.manifest(project.image_name, "latest")
    assert recorded["config"] == manifest["config"]["digest"] == local_config_digest(engine, project, "latest")
    assert {layer["mediaType"].rsplit(".", 1)[-1].split("+")[-1] for layer in manifest["layers"]} == {"gzip"}


def local_config_digest(engine, project, tag: str) -> str:
    """The digest of an image's config as the engine keeps it, read from `docker save` (the classic
    store's image id is that digest; the containerd store's is its manifest's)."""
    import tarfile

    archive = project.root / "saved.tar"
    with open(archive, "wb") as out:
        for chunk in engine.images.get(f"{project.image_name}:{tag}").save(named=True):
            out.write(chunk)
    with tarfile.open(archive) as saved:
        config = json.load(saved.extractfile("manifest.json"))[0]["Config"]
    archive.unlink()
    return "sha256:" + config.rsplit("/", 1)[-1].removesuffix(".json")


def test_in_a_terminal_a_push_shows_each_moving_layers_bytes_and_speed(make_project, registry, client_env):
    """A layer of 100 MB that no registry holds yet (random bytes, which gzip cannot shrink) takes
    long enough to send that the progress is redrawn while it moves."""
    project = make_project()
    env = login_env(registry, client_env)
    (project.root / "src" / "weights.bin").write_bytes(os.urandom(100 * 2**20))
    ok(project.inv("build"))
    ok(project.inv("login", "--registry", registry.host, env=env))
    pushed = in_a_terminal(project, "push", "--registry", registry.host, "--tag", "latest", "--allow-dirty", env=env)
    assert pushed.returncode == 0, pushed.stdout[-3000:]
    moving = re.findall(r"layer ([0-9a-f]+): pushing ([\d.]+)MB / 10[45]\.\dMB", pushed.stdout)
    assert moving, pushed.stdout[-3000:]
    assert re.search(rf"layer {moving[0][0]}: pushed", pushed.stdout)
    assert "\x1b[J" in pushed.stdout  # redrawn in place
    assert re.search(r"^pushed \S+@sha256:[0-9a-f]{64}\s*$", pushed.stdout, re.M)


def test_zstd_pushes_on_the_containerd_store_and_is_refused_on_the_classic_one(shipped, registry, client_env,
                                                                             engine):
    project, _ = shipped
    env, _, _ = client_env
    result = project.inv("push", "--registry", registry.host, "--tag", "latest",
                         env={**env, "PUSH_COMPRESSION": "zstd"})
    if stores.image_store(engine.info()) == stores.CLASSIC:
        assert result.returncode == 1 and registry.tags(project.image_name) == []
        assert result.stderr.startswith("error: PUSH_COMPRESSION=zstd needs the containerd image store")
        return
    ok(result)
    manifest = registry.manifest(project.image_name, "latest")
    assert {layer["mediaType"] for layer in manifest["layers"]} == {"application/vnd.oci.image.layer.v1.tar+zstd"}


def test_push_a_version_tag(shipped, registry, client_env):
    project, _ = shipped
    env, _, _ = client_env
    ok(project.inv("tag", "--version", "1.0"))
    shown = ok(project.inv("push", "--registry", registry.host, "--version", "1.0", "--dry-run", env=env)).stdout
    target = f"{registry.host}/{project.image_name}:1.0"
    assert shown.startswith("# note: 1.0 go without provenance: ")  # why: the store, or an everyday build
    assert shown.splitlines()[1:] == [
        f"echo 'FROM {project.image_name}:1.0' | docker buildx build --output type=image,name={target},"
        "compression=gzip,force-compression=true --provenance false --progress auto --platform linux/amd64 -",
        f"docker push {target}",
        "# then its SBOM, from requirements.lock, beside the pushed digest as NAME:sha256-<hex>.sbom",
    ]
    assert registry.tags(project.image_name) == []
    ok(project.inv("push", "--registry", registry.host, "--version", "1.0", env=env))
    assert "1.0" in registry.tags(project.image_name)


def test_a_wrong_password_is_one_clear_line(make_project, registry, client_env):
    project = make_project()
    result = project.inv("login", "--registry", registry.host,
                         env=login_env(registry, client_env, password="wrong-password-123"))
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: {registry.host} refused the credentials")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "wrong-password-123" not in result.stdout + result.stderr


def test_a_push_without_logging_in_is_one_line_that_says_to_log_in(make_project, registry, client_env):
    project = make_project()
    env, _, _ = client_env  # a Docker config of its own, with no login in it
    ok(project.inv("build"))
    result = project.inv("push", "--registry", registry.host, "--tag", "latest", env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: {registry.host} wants a login, and Docker holds none for it; "
                                     f"log in with `inv login --registry {registry.host}`")
    assert registry.tags(project.image_name) == []


def test_a_stopped_registry_is_a_clear_error_within_seconds(shipped, client_env):
    project, _ = shipped
    env, _, _ = client_env
    nowhere = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    result = project.inv("push", "--registry", nowhere, env=env)
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: the registry {nowhere} does not answer")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_tag_that_is_not_here_and_a_foreign_platform_are_refused(shipped, registry, client_env):
    project, _ = shipped
    env, _, _ = client_env
    missing = project.inv("push", "--registry", registry.host, "--tag", "nope", env=env)
    assert missing.returncode == 1 and f"no image {project.image_name}:nope" in missing.stderr
    foreign = project.inv("push", "--registry", registry.host, env={**env, "PLATFORM": "linux/s390x"})
    assert foreign.returncode == 1
    assert "Build it with `inv build --platform linux/s390x`" in foreign.stderr
    assert registry.tags(project.image_name) == []  # nothing was pushed


def build_cache_records() -> set[str]:
    listed = subprocess.run(["docker", "buildx", "du", "--verbose"], capture_output=True, text=True, check=True)
    return set(re.findall(r"^ID:\s+(\S+)", listed.stdout, re.M))




INDEX = {"PRIVATE_INDEX_URL": "https://pypi.org/simple"}


def test_a_builder_with_an_empty_cache_reuses_the_requirements_from_the_exported_cache(
        make_project, registry, client_env, engine):
    """What a CI runner sees: the first build exports its cache to the registry; then this test
    removes its images and only the build-cache records its build made (the engine's other
    records stay), and a build that reads the exported cache does not install the requirements."""
    project = make_project()
    env = {**login_env(registry, client_env), **INDEX}
    ok(project.inv("login", "--registry", registry.host, env=env))
    secret = ("--secret", "id=index_url,env=PRIVATE_INDEX_URL")
    cache = f"type=registry,ref={registry.host}/{project.image_name}:buildcache"
    if subprocess.run(["docker", "info", "--format", "{{.Driver}}"], capture_output=True, text=True).stdout.strip() \
            != "overlayfs":
        refused = project.inv("build", "--cache-to", cache, env=env)
        assert refused.returncode == 1 and "with the classic image store" in refused.stderr
        assert refused.stderr.count("\n") == 1
        return
    renew_requirements_step(project.root, project.image_name)
    project.commit_change("a cache of its own")
    before = build_cache_records()
    started = time.monotonic()
    first = ok(project.inv("build", *secret, "--cache-to", cache, env=env))
    first_seconds = time.monotonic() - started
    assert requirements_step_ran(first.stdout) and "buildcache" in registry.tags(project.image_name)
    ok(project.inv("rmi", "--all", "--force", env=env))
    ours = build_cache_records() - before
    for _ in range(5):  # a record goes once no record made after it still refers to it
        for record in build_cache_records() & ours:
            subprocess.run(["docker", "buildx", "prune", "--force", "--filter", f"id={record}"], check=True,
                           capture_output=True)
    assert not build_cache_records() & ours
    started = time.monotonic()
    second = ok(project.inv("build", *secret, "--cache-from", cache, env=env))
    second_seconds = time.monotonic() - started
    assert f"importing cache manifest from {registry.host}/{project.image_name}:buildcache" in second.stdout
    assert not requirements_step_ran(second.stdout), "the requirements were installed again"
    assert "train finished" in ok(project.inv("run", "--", "train", env=env)).stdout
    print(f"\nfirst build, exporting: {first_seconds:.1f}s; empty cache, importing: {second_seconds:.1f}s")


def published_sbom(registry, repository: str, digest: str) -> dict:
    """The SBOM pushed beside `digest`: the one file of the image tagged sha256-<hex>.sbom."""
    import gzip
    import io
    import tarfile

    (layer,) = registry.manifest(repository, digest.replace(":", "-") + ".sbom")["layers"]
    with registry.ask(f"{repository}/blobs/{layer['digest']}") as response:
        content = gzip.decompress(response.read())
    with tarfile.open(fileobj=io.BytesIO(content)) as archive:
        return json.load(archive.extractfile("sbom.cdx.json"))


def in_toto_statement(registry, repository: str, index: dict) -> dict:
    """The provenance an index carries: the one layer of its attestation manifest."""
    (attestation,) = [m for m in index["manifests"]
                      if (m.get("annotations") or {}).get("vnd.docker.reference.type") == "attestation-manifest"]
    accept = "application/vnd.oci.image.manifest.v1+json"
    with registry.ask(f"{repository}/manifests/{attestation['digest']}", accept=accept) as response:
        layer = json.load(response)["layers"][0]
    assert layer["annotations"]["in-toto.io/predicate-type"] == "https://slsa.dev/provenance/v0.2"
    with registry.ask(f"{repository}/blobs/{layer['digest']}") as response:
        return json.load(response)


def test_a_reproducible_build_is_pushed_with_its_provenance_and_an_everyday_one_says_why_not(
        make_project, registry, client_env, engine):
    project = make_project()
    env = login_env(registry, client_env)
    ok(project.inv("login", "--registry", registry.host, env=env))
    ok(project.inv("build", "--reproducible"))
    local = same_image(engine.images.get(f"{project.image_name}:latest").attrs)
    pushed = ok(project.inv("push", "--registry", registry.host, env=env)).stdout
    if "overlayfs" not in subprocess.run(["docker", "info", "--format", "{{.Driver}}"], capture_output=True,
                                         text=True).stdout:
        assert "go without provenance: with the classic image store, the engine's builder attaches no" in pushed
        assert "layers" in registry.manifest(project.image_name, "latest")  # the image alone, no index
        assert "published its SBOM" in pushed
        return
    assert f"rebuilding {project.head(True)} from the build cache, to push it with its provenance" in pushed
    digest = re.search(r"@(sha256:[0-9a-f]{64}), an index of the image and its provenance$", pushed, re.M).group(1)
    assert {registry.manifest_digest(project.image_name, tag) for tag in (project.head(True), "latest")} == {digest}
    statement = in_toto_statement(registry, project.image_name, registry.index(project.image_name, "latest"))
    (image_manifest,) = [m for m in registry.index(project.image_name, "latest")["manifests"]
                         if m["platform"]["architecture"] != "unknown"]
    assert statement["subject"][0]["digest"]["sha256"] == image_manifest["digest"].removeprefix("sha256:")
    arguments = statement["predicate"]["invocation"]["parameters"]["args"]
    assert arguments["build-arg:GIT_SHA"] == project.head()
    assert arguments["build-arg:BUILD_MODE"] == "reproducible"
    sbom = published_sbom(registry, project.image_name, digest)
    assert f"published its SBOM (1 Python packages, CycloneDX) as {registry.host}/{project.image_name}:" in pushed
    assert sbom["metadata"]["component"]["version"] == digest
    assert [c["purl"] for c in sbom["components"]] == ["pkg:pypi/six@1.17.0"]  # the fixture job's lock
    listing = ok(project.inv("images", env=env)).stdout
    assert f"SBOM: {registry.host}/{project.image_name}:sha256-{digest.removeprefix('sha256:')}.sbom" in listing
    assert "with provenance" in listing
    engine.images.remove(f"{project.image_name}:latest")
    engine.images.remove(f"{project.image_name}:{project.head(True)}")
    for tag in (project.head(True), "latest"):
        engine.images.remove(f"{registry.host}/{project.image_name}:{tag}")
    ok(project.inv("pull", f"{registry.host}/{project.image_name}@{digest}", env=env))
    assert same_image(engine.images.get(f"{registry.host}/{project.image_name}@{digest}").attrs) == local

    project.commit_change("an everyday build")
    ok(project.inv("build"))
    everyday = ok(project.inv("push", "--registry", registry.host, "--tag", "latest", env=env)).stdout
    assert "note: latest go without provenance: an everyday build records the time it was built" in everyday
    assert "published its SBOM" in everyday  # every push publishes one
    assert "layers" in registry.manifest(project.image_name, "latest")  # one image's manifest, no index
