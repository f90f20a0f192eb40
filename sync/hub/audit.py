"""The hub's check of a node's audit chain, from the entries the node sent.

The node ships every audit entry (kind ``audit.entry``) with its chain hash,
so the province holds a copy nobody at the commune can change. Walking that
copy with the node's own rules names the first entry that was edited,
deleted, reordered or cut off before it left the node.
"""

from __future__ import annotations

from edge_node.store.audit import check_entries
from sync.hub.store import HubStore

REASONS = {
    "missing": "đã bị xóa hoặc cắt bỏ",
    "reordered": "bị đảo thứ tự",
    "bad_link": "không nối đúng mục trước (bị xóa, chèn hoặc đảo)",
    "edited": "nội dung bị sửa",
    "rewritten": "bị ghi lại với mã băm mới",
}


def verify_node(store: HubStore, node_id: str) -> dict:
    """``{entries, broken_at, reason, message}`` for one node's shipped chain."""
    count, broken, reason = check_entries(store.audit_slots(node_id))
    message = (f"Nhật ký kiểm toán nguyên vẹn ({count} mục đã nhận)." if broken is None else
               f"Nhật ký kiểm toán bị can thiệp: mục {broken} {REASONS.get(reason, reason)}.")
    return {"entries": count, "broken_at": broken, "reason": reason or None,
            "message": message}
