"""Scanned documents on a dossier: upload, list, download, refusals that write nothing."""

from __future__ import annotations

import hashlib
import os

import pytest

from edge_node.config import load_config
from edge_node.store import audit
from edge_node.web.app import create_app
from tests.conftest import add_user, api_token, csrf_from, login, valid_dossier

PDF = b"%PDF-1.4\n" + os.urandom(300_000) + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2_000)


def scan(size: int, magic: bytes = b"%PDF-1.7\n") -> bytes:
    return magic + os.urandom(size - len(magic))


@pytest.fixture
def clerk_api(app, db):
    add_user(db, "canbo1", "clerk")
    client = app.test_client()
    return client, api_token(client, "canbo1")


@pytest.fixture
def code(clerk_api):
    client, headers = clerk_api
    resp = client.post("/api/v1/dossiers", json=valid_dossier(), headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["code"]


def multipart(fields: dict, file: tuple[bytes, str, str] | None) -> tuple[bytes, str]:
    """A multipart body built in memory (the test client's builder spools big ones to
    temporary files it never closes)."""
    boundary = "----edge-node-test-" + os.urandom(8).hex()
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                     .encode() + value.encode() + b"\r\n")
    if file is not None:
        data, filename, ctype = file
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                     f'filename="{filename}"\r\nContent-Type: {ctype}\r\n\r\n'.encode()
                     + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post_form(client, url, fields: dict, file=None, headers=None):
    body, ctype = multipart(fields, file)
    return client.post(url, data=body, content_type=ctype, headers=headers or {})


def upload(client, headers, code, data: bytes, name="ban-quet.pdf", label=None,
           content_type="application/pdf"):
    fields = {"label": label} if label is not None else {}
    return post_form(client, f"/api/v1/dossiers/{code}/attachments", fields,
                     (data, name, content_type), headers)


def stored_files(cfg) -> list:
    root = cfg.home / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def counts(db) -> tuple[int, int, int]:
    return tuple(db.conn.execute(q).fetchone()[0] for q in (
        "SELECT count(*) FROM attachments", "SELECT count(*) FROM outbox",
        "SELECT count(*) FROM audit"))


def test_upload_then_download_gives_the_same_bytes(clerk_api, code, db, cfg):
    client, headers = clerk_api
    # NFD name from some keyboards is stored NFC
    resp = upload(client, headers, code, PDF, name="Giấy khai sinh.pdf".encode().decode()
                  .replace("ấ", "a\u0302\u0301"), label="Tờ khai đăng ký khai sinh")
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    sha = hashlib.sha256(PDF).hexdigest()
    assert body["sha256"] == sha and body["size"] == len(PDF)
    assert body["mime"] == "application/pdf" and body["name"] == "Giấy khai sinh.pdf"
    assert body["transfer"]["state"] == "pending"
    assert (cfg.home / "attachments" / sha[:2] / sha[2:]).read_bytes() == PDF

    listed = client.get(f"/api/v1/dossiers/{code}/attachments", headers=headers).get_json()
    assert [a["sha256"] for a in listed["items"]] == [sha]
    got = client.get(f"/api/v1/dossiers/{code}/attachments/{sha}", headers=headers)
    assert got.status_code == 200 and got.data == PDF
    assert got.mimetype == "application/pdf"
    got.close()
    # one row, one audit entry, one outbox event announcing it
    event = db.conn.execute("SELECT kind, payload FROM outbox ORDER BY seq DESC").fetchone()
    assert event[0] == "attachment.added" and sha in event[1]
    assert audit.recent(db, 1)[0]["action"] == "attachment.add"


def test_png_is_accepted_by_its_bytes_even_with_a_wrong_extension(clerk_api, code):
    client, headers = clerk_api
    resp = upload(client, headers, code, PNG, name="anh.pdf", content_type="application/pdf")
    assert resp.status_code == 201 and resp.get_json()["mime"] == "image/png"


def test_wrong_type_is_refused_and_nothing_is_written(clerk_api, code, db, cfg):
    client, headers = clerk_api
    before = counts(db)
    fake = b"MZ\x90\x00" + os.urandom(5000)  # a program renamed .pdf, sent as PDF
    resp = upload(client, headers, code, fake, name="giay-to.pdf")
    assert resp.status_code == 415
    assert resp.get_json()["error"]["code"] == "bad_type"
    assert "PDF, JPEG hoặc PNG" in resp.get_json()["error"]["message"]
    assert counts(db) == before and stored_files(cfg) == []


def test_oversize_is_refused_with_413_and_nothing_is_written(tmp_path):
    from edge_node.services.node import init_home
    from edge_node.store.db import open_db

    cfg = load_config(tmp_path / "small", environ={"EDGE_NODE_ATTACHMENT_MAX_MB": "1"})
    init_home(cfg)
    app = create_app(cfg)
    db = open_db(cfg.db_path)
    try:
        add_user(db, "canbo1", "clerk")
        client = app.test_client()
        headers = api_token(client, "canbo1")
        code = client.post("/api/v1/dossiers", json=valid_dossier(),
                           headers=headers).get_json()["code"]
        before = counts(db)
        # just over the limit (fits the multipart allowance: the service counts the bytes)
        resp = upload(client, headers, code, scan(1024 * 1024 + 1))
        assert resp.status_code == 413
        assert resp.get_json()["error"]["code"] == "too_large"
        assert "1 MB" in resp.get_json()["error"]["message"]
        # far over: refused from Content-Length before the body is read
        resp = upload(client, headers, code, scan(3 * 1024 * 1024))
        assert resp.status_code == 413 and resp.get_json()["error"]["code"] == "too_large"
        assert counts(db) == before and stored_files(cfg) == []
        # the dossier page says it in Vietnamese, whichever check catches it
        web = app.test_client()
        assert login(web, "canbo1").status_code == 302
        token = csrf_from(web.get(f"/dossiers/{code}").get_data(as_text=True))
        before = counts(db)  # the login itself is audited
        for size in (1024 * 1024 + 1, 3 * 1024 * 1024):
            resp = post_form(web, f"/dossiers/{code}/attachments", {"csrf_token": token},
                             (scan(size), "lon.pdf", "application/pdf"))
            assert resp.status_code == 413
            assert "Tệp quá lớn: mỗi tệp đính kèm tối đa 1 MB." in resp.get_data(as_text=True)
        assert counts(db) == before and stored_files(cfg) == []
        # exactly the limit is fine
        assert upload(client, headers, code, scan(1024 * 1024)).status_code == 201
    finally:
        db.conn.close()


def test_dossier_page_attach_refusal_is_in_vietnamese(app, db, cfg, code):
    client = app.test_client()
    assert login(client, "canbo1").status_code == 302
    page = client.get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Tài liệu đính kèm" in page and "tối đa 20 MB" in page
    resp = post_form(client, f"/dossiers/{code}/attachments",
                     {"csrf_token": csrf_from(page), "label": "Tờ khai"},
                     (b"hello, not a scan", "to-khai.pdf", "application/pdf"))
    assert resp.status_code == 415
    assert "Chỉ nhận tệp PDF, JPEG hoặc PNG" in resp.get_data(as_text=True)
    assert stored_files(cfg) == []
    resp = post_form(client, f"/dossiers/{code}/attachments",
                     {"csrf_token": csrf_from(page), "label": "Tờ khai"},
                     (PDF, "to-khai.pdf", "application/pdf"))
    assert resp.status_code == 302
    page = client.get(f"/dossiers/{code}").get_data(as_text=True)
    assert "to-khai.pdf" in page and "Chờ gửi" in page
    # the same file twice is refused
    resp = post_form(client, f"/dossiers/{code}/attachments",
                     {"csrf_token": csrf_from(page)}, (PDF, "lan-hai.pdf", "application/pdf"))
    assert resp.status_code == 409 and "đã được đính kèm" in resp.get_data(as_text=True)


def test_removing_marks_the_row_and_keeps_the_bytes(app, db, cfg, clerk_api, code):
    client, headers = clerk_api
    row = upload(client, headers, code, PDF).get_json()
    web = app.test_client()
    assert login(web, "canbo1").status_code == 302
    page = web.get(f"/dossiers/{code}").get_data(as_text=True)
    resp = web.post(f"/dossiers/{code}/attachments/{row['id']}/remove",
                    data={"csrf_token": csrf_from(page)})
    assert resp.status_code == 302
    listed = client.get(f"/api/v1/dossiers/{code}/attachments", headers=headers).get_json()
    assert listed["items"][0]["removed_at"]
    assert db.conn.execute("SELECT kind FROM outbox ORDER BY seq DESC").fetchone()[0] == \
        "attachment.removed"
    assert (cfg.home / "attachments" / row["sha256"][:2] / row["sha256"][2:]).exists()
    # after removal the same file may be attached again (a new row, a new event)
    assert upload(client, headers, code, PDF).status_code == 201


def test_openapi_lists_the_attachment_contract(app, clerk_api, code):
    client, headers = clerk_api
    spec = client.get("/api/v1/openapi.json").get_json()
    paths = spec["paths"]
    assert {"post", "get"} <= set(paths["/api/v1/dossiers/{code}/attachments"])
    assert "get" in paths["/api/v1/dossiers/{code}/attachments/{sha256}"]
    documented = paths["/api/v1/dossiers/{code}/attachments"]["post"]["responses"]["201"][
        "content"]["application/json"]["schema"]["properties"]
    body = upload(client, headers, code, PDF).get_json()
    assert set(body) == set(documented)


def test_unknown_dossier_and_wrong_role(app, db, clerk_api):
    client, headers = clerk_api
    assert upload(client, headers, "KHONG-CO", PDF).status_code == 404
    add_user(db, "lanhdao", "leader")
    leader = api_token(client, "lanhdao")
    code = client.post("/api/v1/dossiers", json=valid_dossier(), headers=headers).get_json()
    assert upload(client, leader, code["code"], PDF).status_code == 403
