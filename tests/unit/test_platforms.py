import pytest

from docker_tasks import labels, platforms
from docker_tasks.errors import TaskError

AMD64 = {"Os": "linux", "Architecture": "amd64"}
ARM64 = {"Os": "linux", "Architecture": "arm64", "Variant": "v8"}


def both(config: dict) -> dict:
    return {**config, "Config": {"Labels": {labels.PLATFORMS: "linux/amd64,linux/arm64"}}}


def test_platforms_are_parsed_in_order_without_repeats():
    assert platforms.parse("linux/amd64, linux/arm64") == ["linux/amd64", "linux/arm64"]
    assert platforms.parse("linux/arm64,linux/arm64/v8,LINUX/AMD64") == ["linux/arm64", "linux/amd64"]
    assert platforms.parse("linux/arm/v7") == ["linux/arm/v7"]


@pytest.mark.parametrize("text", ["amd64", "linux/amd64,", "linux amd64", "linux/amd64/v2/x", ""])
def test_a_malformed_platform_is_refused_with_the_form(text):
    with pytest.raises(TaskError, match="is not a platform; give os/architecture"):
        platforms.parse(text, "PLATFORM")


def test_an_image_holds_what_its_build_recorded_else_its_config_platform():
    assert platforms.held(AMD64) == ["linux/amd64"]
    assert platforms.held(ARM64) == ["linux/arm64"]
    assert platforms.held(both(AMD64)) == ["linux/amd64", "linux/arm64"]
    assert platforms.held({**ARM64, "Labels": {labels.PLATFORMS: "linux/arm64/v8"}}) == ["linux/arm64"]


@pytest.mark.parametrize("image, wanted, absent", [
    (AMD64, ["linux/amd64"], []),
    (ARM64, ["linux/arm64/v8"], []),
    (ARM64, ["linux/amd64"], ["linux/amd64"]),
    (both(AMD64), ["linux/arm64", "linux/amd64"], []),
    (AMD64, ["linux/amd64", "linux/arm64"], ["linux/arm64"]),
])
def test_missing_platforms(image, wanted, absent):
    assert platforms.missing(image, wanted) == absent


def test_the_message_names_what_is_held_what_is_lacking_and_the_build_that_makes_it():
    message = platforms.lacking_message("app:abc", AMD64, ["linux/amd64", "linux/arm64"], "PLATFORM")
    assert message == ("app:abc holds linux/amd64, not linux/arm64, which PLATFORM asks for: it would fail there "
                       "with 'exec format error'. Build it with `inv build --platform linux/amd64,linux/arm64`")
    assert platforms.lacking_message("app:abc", both(AMD64), ["linux/arm64"], "--platform") is None


def test_the_classic_store_refusal_offers_one_platform_at_a_time():
    refusal = platforms.multi_platform_refusal(["linux/amd64", "linux/arm64"])
    assert "classic image store keeps one platform per image" in refusal
    assert "`inv build --platform linux/amd64`" in refusal and "containerd image store" in refusal
