import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_node.domain import validation as v


@pytest.mark.parametrize("raw,expected", [
    ("011090001234", ("011090001234", v.ID_TYPE_CCCD)),
    (" 011 090 001 234 ", ("011090001234", v.ID_TYPE_CCCD)),
    ("123456789", ("123456789", v.ID_TYPE_CMND)),
])
def test_id_number_accepts_cccd_and_cmnd(raw, expected):
    assert v.id_number(raw) == expected


@pytest.mark.parametrize("raw,fragment", [
    ("", "Chưa nhập"),
    ("01109000123", "12 chữ số"),
    ("0110900012345", "12 chữ số"),
    ("01109000123A", "chữ số"),
    ("003090001234", "Mã tỉnh “003”"),  # 003 is not a province code
    ("０１１０９０００１２３４", "chữ số"),  # full-width digits
    (None, "Chưa nhập"),
])
def test_id_number_refuses_malformed(raw, fragment):
    with pytest.raises(v.FieldError) as err:
        v.id_number(raw)
    assert fragment in err.value.message


@pytest.mark.parametrize("raw,expected", [
    ("0912345678", "0912345678"),
    ("+84 912 345 678", "0912345678"),
    ("0215 3825 123", "02153825123"),  # Điện Biên landline
])
def test_phone_accepts_vietnamese_numbers(raw, expected):
    assert v.phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "0912", "+1 202 555 0143", "abc", "0" * 30])
def test_phone_refuses_bad_numbers(raw):
    with pytest.raises(v.FieldError):
        v.phone(raw)


def test_full_name_is_nfc_and_checked():
    import unicodedata

    assert v.full_name(unicodedata.normalize("NFD", "Lò  Văn Thành")) == "Lò Văn Thành"
    for bad in ["", "   ", "A" * 101, "Nguyễn Văn 3", "<script>"]:
        with pytest.raises(v.FieldError):
            v.full_name(bad)


def test_email_optional_but_checked():
    assert v.email("") == ""
    assert v.email("Ten@Example.COM") == "ten@example.com"
    with pytest.raises(v.FieldError):
        v.email("khong-phai-email")


@settings(max_examples=1000, deadline=None)
@given(st.from_regex(r"0[1-9][0-9]{8,9}", fullmatch=True)
       | st.from_regex(r"0[35789][0-9]{8}", fullmatch=True))
def test_phone_typed_in_national_form_is_judged_as_phonenumbers_parses_it(text):
    """The quick path for ``0xxxxxxxxx`` accepts and refuses exactly what parse() does."""
    try:
        parsed = phonenumbers.parse(text, "VN")
        expected = ("0" + str(parsed.national_number)
                    if parsed.country_code == 84 and phonenumbers.is_valid_number(parsed)
                    else None)
    except phonenumbers.NumberParseException:
        expected = None
    try:
        got = v.phone(text)
    except v.FieldError:
        got = None
    assert got == expected
