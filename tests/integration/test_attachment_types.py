"""The attachment download is documented with the types it really serves (issue 14,
defect 11): image/jpeg, image/png or application/pdf, sniffed at upload, never the
application/octet-stream the document used to promise."""
from __future__ import annotations

import pytest

from estate_platform.visits import storage
from tests.integration import openapi_helpers as oa
from tests.integration.test_visits import JPEG, PDF, PNG, scene, upload

DOWNLOAD = "/visits/{visit_id}/attachments/{attachment_id}"


def documented_types(client, prefix: str, path_suffix: str, status: str = "200") -> set[str]:
    spec = oa.load_spec(client, prefix)
    [path] = [p for p in spec["paths"] if p.endswith(path_suffix)]
    return set(spec["paths"][path]["get"]["responses"][status]["content"])


def test_the_download_documents_exactly_the_types_an_upload_may_have(client):
    assert documented_types(client, oa.MP, DOWNLOAD) == set(storage.ALLOWED_TYPES) == {
        "image/jpeg", "image/png", "application/pdf"}


@pytest.mark.parametrize("prefix", oa.PREFIXES)
def test_no_operation_promises_a_generic_octet_stream(client, prefix):
    spec = oa.load_spec(client, prefix)
    promised = [(path, method, status) for path, operations in spec["paths"].items()
                for method, operation in operations.items() if method in oa.HTTP_METHODS
                for status, response in operation.get("responses", {}).items()
                if "application/octet-stream" in oa.resolve(spec, response).get("content", {})]
    assert promised == []


@pytest.mark.parametrize("content,filename,served", [(PNG, "确认单.png", "image/png"),
                                                     (JPEG, "确认单.jpg", "image/jpeg"),
                                                     (PDF, "确认单.pdf", "application/pdf")])
def test_a_downloaded_file_is_served_under_a_documented_type(world, client, content, filename, served):
    s = scene(world)
    uploaded = upload(client, s.visit["id"], s.consultant.auth, content, filename=filename,
                      content_type="application/octet-stream")
    assert uploaded.status_code == 201, uploaded.get_json()
    download = client.get(uploaded.get_json()["download_url"], headers=s.consultant.auth)
    assert download.status_code == 200 and download.data == content
    assert download.mimetype == served
    assert download.mimetype in documented_types(client, oa.MP, DOWNLOAD)
