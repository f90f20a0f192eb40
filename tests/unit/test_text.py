import unicodedata

from edge_node.domain.text import accent_key, fold, nfc, words


def test_fold_removes_tones_and_maps_d_with_stroke():
    assert fold("Đăng ký khai sinh") == "dang ky khai sinh"
    assert fold("ĐIỆN BIÊN") == "dien bien"
    assert fold("Mường Phăng") == "muong phang"


def test_fold_treats_nfd_and_old_tone_placement_alike():
    nfd = unicodedata.normalize("NFD", "Nguyễn Thị Thuỷ")
    assert fold(nfd) == fold("Nguyễn Thị Thủy") == "nguyen thi thuy"
    assert fold("Hoà") == fold("Hòa")


def test_nfc_collapses_spaces_and_composes():
    assert nfc("  Lò   Văn\tThành ") == "Lò Văn Thành"
    assert unicodedata.is_normalized("NFC", nfc(unicodedata.normalize("NFD", "Thủy")))


def test_accent_key_ignores_tone_placement_but_not_accents():
    assert accent_key("Hoà") == accent_key("Hòa")
    assert accent_key("Thuỷ") == accent_key("Thủy")
    assert accent_key("đăng") != accent_key("dang")


def test_words_splits_folded_text():
    assert words("Đăng ký (khai-sinh) 1.001193") == ["dang", "ky", "khai", "sinh", "1", "001193"]
