from kocache_plugin.oci import media_types as mt


def test_layer_media_type_spelling() -> None:
    assert mt.OCI_LAYER_GZIP == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert mt.OCI_LAYER_TAR == "application/vnd.oci.image.layer.v1.tar"


def test_is_index() -> None:
    assert mt.is_index(mt.OCI_INDEX)
    assert mt.is_index(mt.DOCKER_MANIFEST_LIST)
    for other in (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST_V2, mt.OCI_CONFIG, mt.OCI_LAYER_GZIP, ""):
        assert not mt.is_index(other)


def test_is_manifest() -> None:
    assert mt.is_manifest(mt.OCI_MANIFEST)
    assert mt.is_manifest(mt.DOCKER_MANIFEST_V2)
    for other in (
        mt.OCI_INDEX,
        mt.DOCKER_MANIFEST_LIST,
        mt.DOCKER_CONFIG,
        mt.DOCKER_LAYER_GZIP,
        "",
    ):
        assert not mt.is_manifest(other)
