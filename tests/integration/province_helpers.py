"""Helpers for tests of work that comes from the province (a real hub, a real node)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import requests

from edge_node.domain.clock import LOCAL_TZ, now_utc
from tests.integration.sync_helpers import Hub, hub_cli, node_cli

SEED = Path(__file__).resolve().parents[2] / "edge_node" / "seed" / "catalog.json"


def submitted(hours_ago: float = 1.0) -> str:
    """A NgayNopHoSo some hours before the hub's real clock, in Vietnam time."""
    return f"{(now_utc() - timedelta(hours=hours_ago)).astimezone(LOCAL_TZ):%Y%m%d%H%M%S}"


def online_dossier(ma_ho_so: str = "G22.99-20261203-0000001", **changes) -> dict:
    body = {"commune_code": "03325", "MaHoSo": ma_ho_so, "MaTTHC": "1.001731",
            "TenTTHC": "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội",
            "ChuHoSo": "Quàng Thị Mai", "SoGiayToChuHoSo": "011185004321",
            "SoDienThoai": "0987654321", "Email": "mai@example.com",
            "DiaChi": "Bản Phăng, xã Mường Phăng, tỉnh Điện Biên",
            "NgayNopHoSo": submitted(), "TrangThaiHoSo": "1", "KenhThucHien": "2",
            "TaiKhoanDuocXacThucVoiVNeID": 1, "MaDoiTuong": "TECH-88123",
            "TaiLieuNop": [{"TepDinhKemId": "f1", "MaThanhPhanHoSo": "TP1",
                            "TenTepDinhKem": "Tờ khai đề nghị hỗ trợ chi phí mai táng"}]}
    body.update(changes)
    return body


class Province:
    """The hub seen by the provincial DVCQG adapter: an integration token and two calls."""

    def __init__(self, hub: Hub):
        self.hub = hub
        imported = hub_cli(hub.home, "catalog", "import", str(SEED))
        assert imported.returncode == 0, imported.stderr
        made = hub_cli(hub.home, "token", "create", "--label", "DVCQG adapter")
        assert made.returncode == 0, made.stderr
        self.headers = {"Authorization": f"Bearer {made.stdout.strip()}"}

    def post(self, path: str, body, headers=None):
        return requests.post(self.hub.url + path, json=body, timeout=10,
                             headers=self.headers if headers is None else headers)

    def dossier(self, body: dict):
        return self.post("/api/v1/inbound/dossiers", body)

    def fact(self, body: dict):
        return self.post("/api/v1/inbound/facts", body)


def sync(db, cfg, world):
    from edge_node.services import sync as sync_service

    return sync_service.sync_once(db, cfg, now_fn=lambda: world.now)


__all__ = ["Province", "online_dossier", "submitted", "sync", "node_cli"]
