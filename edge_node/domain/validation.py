"""Checks on what a clerk or an API client types, with Vietnamese messages.

Each check returns the cleaned value or raises :class:`FieldError`; the
intake form collects them all so the clerk sees every problem at once.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

from edge_node.domain.text import nfc

# Old (pre-2025) GSO province codes, the first three digits of a 12-digit
# personal ID number (CCCD). Numbers are for life, so merged provinces stay valid.
CCCD_PROVINCE_CODES = frozenset(
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 "
    "034 035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 "
    "067 068 070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096"
    .split())
ID_TYPE_CCCD = 1
ID_TYPE_CMND = 2
RETURN_METHODS = {
    "counter": "Bộ phận Một cửa",
    "postal": "Nhà riêng, qua dịch vụ bưu chính công ích",
    "online": "Trực tuyến (Cổng Dịch vụ công quốc gia)",
}
_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '’.-][^\W\d_]+)*\.?$")
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


class FieldError(ValueError):
    """One field is wrong; ``message`` is Vietnamese."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# Control, format (zero-width, right-to-left override), surrogate and private-use
# characters have no place in a name or an address printed on an official form.
_BAD_CATEGORIES = {"Cc", "Cf", "Cs", "Co"}


def _text(value, field: str = "") -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise FieldError(field or "body", "Dữ liệu không hợp lệ (cần một chuỗi ký tự).")
    # isprintable() is False for every character of those categories (and for some harmless
    # ones, such as tabs): a quick pass for ordinary text, the exact check otherwise.
    if not value.isprintable() and any(unicodedata.category(ch) in _BAD_CATEGORIES
                                       for ch in value if ch not in "\t\n\r"):
        raise FieldError(field or "body", "Có ký tự không hợp lệ (ký tự điều khiển hoặc ẩn).")
    return nfc(value)


def full_name(value) -> str:
    name = _text(value, "full_name")
    if not name:
        raise FieldError("full_name", "Chưa nhập họ và tên.")
    if len(name) > 100:
        raise FieldError("full_name", "Họ và tên quá dài (tối đa 100 ký tự).")
    if not _NAME_RE.match(name):
        raise FieldError("full_name", "Họ và tên chỉ gồm chữ cái và dấu cách.")
    return name


def id_number(value) -> tuple[str, int]:
    """Return ``(number, id_type)``: 12-digit personal ID (CCCD) or 9-digit CMND."""
    number = re.sub(r"[\s.-]", "", _text(value, "id_number"))
    if not number:
        raise FieldError("id_number", "Chưa nhập số định danh cá nhân / CCCD.")
    if not number.isdigit() or not number.isascii():
        raise FieldError("id_number", "Số định danh chỉ gồm chữ số.")
    if len(number) == 12:
        if number[:3] not in CCCD_PROVINCE_CODES:
            raise FieldError("id_number",
                             f"Mã tỉnh “{number[:3]}” ở đầu số định danh không tồn tại.")
        return number, ID_TYPE_CCCD
    if len(number) == 9:
        if set(number) == {"0"}:
            raise FieldError("id_number", "Số CMND không hợp lệ.")
        return number, ID_TYPE_CMND
    raise FieldError("id_number",
                     "Số định danh cá nhân (CCCD) gồm 12 chữ số; CMND cũ gồm 9 chữ số.")


_NATIONAL_PHONE_RE = re.compile(r"0[1-9][0-9]{8,9}")  # not "00…": the international prefix


def phone(value) -> str:
    """Return a Vietnamese phone number in national form (0xxxxxxxxx)."""
    text = _text(value, "phone")
    if not text:
        raise FieldError("phone", "Chưa nhập số điện thoại.")
    if len(text) > 20 or not re.fullmatch(r"[0-9+ ().-]+", text):
        raise FieldError("phone", "Số điện thoại chỉ gồm chữ số (ví dụ: 0912345678).")
    if _NATIONAL_PHONE_RE.fullmatch(text):
        # The form typed at the counter (0 + 9 or 10 digits): the number parse() would give,
        # without parse() (~¾ of the check's time; tests/unit/test_validation.py compares).
        parsed = phonenumbers.PhoneNumber(country_code=84, national_number=int(text[1:]))
    else:
        try:
            parsed = phonenumbers.parse(text, "VN")
        except phonenumbers.NumberParseException:
            raise FieldError("phone", "Số điện thoại không hợp lệ.") from None
    if parsed.country_code != 84 or not phonenumbers.is_valid_number(parsed):
        raise FieldError("phone", "Số điện thoại không hợp lệ (ví dụ: 0912345678).")
    return "0" + str(parsed.national_number)


def address(value, field: str = "address") -> str:
    text = _text(value, field)
    if not text:
        raise FieldError(field, "Chưa nhập địa chỉ.")
    if len(text) > 300:
        raise FieldError(field, "Địa chỉ quá dài (tối đa 300 ký tự).")
    if len(text) < 5 or not any(ch.isalpha() for ch in text):
        raise FieldError(field, "Địa chỉ quá ngắn; ghi rõ thôn/bản, xã, tỉnh.")
    return text


def email(value) -> str:
    text = _text(value, "email")
    if not text:
        return ""
    if len(text) > 254 or not _EMAIL_RE.match(text):
        raise FieldError("email", "Địa chỉ thư điện tử không hợp lệ.")
    return text.lower()


def return_method(value) -> str:
    if not isinstance(value, str) or value not in RETURN_METHODS:
        raise FieldError("return_method", "Chưa chọn hình thức nhận kết quả.")
    return value
