"""The hub's dossiers in the national portal's sync shapes (interop.md §3.1).

``DongBoHoSoMC`` carries one dossier object per dossier, ``CapNhatTienDoHoSoMC``
one progress row per recorded action. Dates are ``yyyyMMddHHmmss`` in
Asia/Ho_Chi_Minh, statuses the DVCQG ``TrangThaiHoSo`` codes 1–10 as strings.
An online dossier is known to the portal by its national code (``MaHoSo`` as
received), a counter dossier by the node's dossier code.
"""

from __future__ import annotations

from edge_node.domain.lifecycle import ACTIONS, STATES
from edge_node.domain.province import EVENT_LABELS, dvcqg_time
from sync.hub.store import HubStore

ROLE_TITLES = {"clerk": "Công chức Bộ phận Một cửa", "officer": "Chuyên viên",
               "leader": "Lãnh đạo", "province": "Cổng Dịch vụ công quốc gia"}


def _status_code(data: dict) -> str:
    if data.get("dvcqg_status") is not None:
        return str(int(data["dvcqg_status"]))
    return str(STATES.get(data.get("status", ""), ("", 1))[1])


def _dossier_object(row: dict, inbound: dict | None, unit: str) -> dict:
    d = row["data"]
    online = d.get("channel") == 2
    original = (inbound or {}).get("payload") or {}
    docs = original.get("TaiLieuNop") or [{"TenTepDinhKem": name}
                                          for name in d.get("documents_received") or []]
    postal = (d.get("return_channel") or d.get("return_method")) == "postal"
    fee = d.get("fee_vnd") or 0
    summary = f"{d.get('procedure_name', '')} — {d.get('applicant_name', '')}"
    return {
        "MaHoSo": d.get("national_code") or row["code"],
        "MaTTHC": d.get("procedure_code", ""), "TenTTHC": d.get("procedure_name", ""),
        "MaLinhVuc": "", "TenLinhVuc": d.get("field", ""),
        "KenhThucHien": "2" if online else "1",
        "SoGiayToChuHoSo": d.get("id_number", ""), "ChuHoSo": d.get("applicant_name", ""),
        "LoaiDoiTuong": "1", "MaDoiTuong": d.get("online_account", "") if online else "",
        "ThongTinKhac": "" if not d.get("national_code") else f"Mã hồ sơ tại xã: {row['code']}",
        "Email": d.get("email", ""), "Fax": "", "SoDienThoai": d.get("phone", ""),
        "TrichYeuHoSo": summary[:1000],
        "NgayTiepNhan": dvcqg_time(d.get("received_at")),
        "NgayHenTra": dvcqg_time(d.get("due_at")),
        "TrangThaiHoSo": _status_code(d),
        "NgayTra": dvcqg_time(d.get("returned_at")),
        "ThongTinTra": d.get("waybill_no", "") and f"Vận đơn {d['waybill_no']}",
        "HinhThuc": "1" if postal else "0",
        "NgayKetThucXuLy": dvcqg_time(d.get("completed_at")),
        "DonViXuLy": unit, "GhiChu": d.get("reason", ""),
        "TaiLieuNop": [{"TepDinhKemId": doc.get("TepDinhKemId", ""),
                        "TenTepDinhKem": doc.get("TenTepDinhKem", ""), "IsDeleted": False,
                        "MaThanhPhanHoSo": doc.get("MaThanhPhanHoSo", ""),
                        "DuongDanTaiTepTin": "", "DuocSoHoa": 0, "DuocTaiSuDung": 0,
                        "DuocLayTuKhoDMQG": 0, "MaKetQuaThayThe": ""} for doc in docs],
        "DanhSachLePhi": ([{"TenPhiLePhi": "Phí, lệ phí", "MaPhiLePhi": "",
                            "HinhThucThu": "1", "Gia": fee, "LoaiPhiLePhi": "1"}]
                          if fee else []),
        "DanhSachTepDinhKemKhac": [],
        "DanhSachHoSoBoSung": ([{"HoSoBoSungId": f"{row['code']}-BS1",
                                 "NguoiYeuCauBoSung": "", "NoiDungBoSung": "; ".join(
                                     d.get("supplement_items") or []),
                                 "NgayBoSung": dvcqg_time(d.get("supplement_requested_at")),
                                 "NguoiTiepNhanBoSung": "", "ThongTinTiepNhan": "",
                                 "NgayTiepNhanBoSung": dvcqg_time(
                                     d.get("supplement_received_at")),
                                 "TrangThaiBoSung": 1 if d.get("supplement_received_at")
                                 else 0, "DanhSachGiayToBoSung": [],
                                 "DanhSachLePhiBoSung": [], "NgayHenTraTruoc": "",
                                 "NgayHenTraMoi": ""}]
                               if d.get("supplement_requested_at") and d.get("received_at")
                               else []),
        "DanhSachGiayToKetQua": ([{"TenGiayTo": d.get("result_note", ""),
                                   "MaThanhPhanHoSo": "", "GiayToId": "",
                                   "DuongDanTepTinKetQua": "", "MaGiayToKetQua": ""}]
                                 if d.get("completed_at") else []),
        "NoiNopHoSo": "2" if online else "1",
        "HoSoCoThanhPhanSoHoa": 1 if online else 0,
        "TaiKhoanDuocXacThucVoiVNeID": 1 if online else 0,
        "DuocThanhToanTrucTuyen": 1 if d.get("online_paid") else 0,
        "NgayTuChoi": dvcqg_time(d.get("refused_at")),
        "DinhDanhCHS": [{"LoaiDinhDanh": "1" if d.get("id_type", 1) == 1 else "2",
                         "SoDinhDanh": d.get("id_number", "")}],
        "NgayNopHoSo": dvcqg_time(d.get("submitted_at") or d.get("received_at")),
        "DSKetNoiCSDL": [],
    }


def _progress(events: list[dict], code_of: dict[str, str]) -> list[dict]:
    """Progress rows for every recorded action, in order, per dossier."""
    rows, state, last_at = [], {}, {}
    labels = {**{name: spec[2] for name, spec in ACTIONS.items()}, **EVENT_LABELS}
    for event in events:
        p = event["payload"]
        code = p.get("dossier_code")
        if code not in code_of:
            continue
        data = state.setdefault(code, {})
        data.update(p.get("set") or {})
        note = (p.get("data") or {}).get("reason") or (p.get("data") or {}).get("note") or ""
        at = p.get("at") or event["at"]
        rows.append({"MaHoSo": code_of[code],
                     "NguoiXuLy": str(p.get("actor", ""))[:50],
                     "ChucDanh": ROLE_TITLES.get(p.get("role", ""), ""),
                     "ThoiDiemXuLy": dvcqg_time(at),
                     "PhongBanXuLy": ("Bộ phận Một cửa" if p.get("role") == "clerk" else ""),
                     "NoiDungXuLy": (labels.get(p.get("type"), p.get("type", ""))
                                     + (f": {note}" if note else ""))[:1000],
                     "TrangThai": _status_code(data),
                     "NgayBatDau": dvcqg_time(last_at.get(code) or at),
                     "NgayKetThucTheoQuyDinh": dvcqg_time(data.get("due_at")),
                     "_at": at})
        last_at[code] = at
    return rows


def export(store: HubStore, *, since: str = "", unit_names: dict[str, str] | None = None
           ) -> dict:
    """Both services' payloads: ``{"DongBoHoSoMC": {...}, "CapNhatTienDoHoSoMC": {...}}``.

    *since* (UTC ISO) keeps dossiers changed and progress rows recorded from then on.
    """
    unit_names = unit_names or {}
    inbound = store.inbound_all()
    everything = store.dossier_rows()
    code_of = {r["code"]: r["data"].get("national_code") or r["code"] for r in everything}
    chosen = [r for r in everything if not since or r["updated_at"] >= since]
    dossiers = [_dossier_object(r, inbound.get(r["data"].get("national_code") or ""),
                                unit_names.get(r["commune_code"], r["commune_code"]))
                for r in chosen]
    progress = [{k: v for k, v in row.items() if k != "_at"}
                for row in _progress(store.dossier_event_rows(), code_of)
                if not since or row["_at"] >= since]
    return {"DongBoHoSoMC": {"service": "DongBoHoSoMC", "isUpdating": "False",
                             "data": dossiers},
            "CapNhatTienDoHoSoMC": {"service": "CapNhatTienDoHoSoMC", "data": progress}}
