"""A staff reply reaches the visitor labelled as the privacy team's, with the staff
member's name when their token has one (extensions/channels/staff.py)."""
from extensions.channels.staff import staff_label


def test_named_token_gives_the_name_and_the_team():
    assert staff_label("maria") == "**Maria, IMAGO privacy team:** "


def test_shared_token_names_only_the_team():
    assert staff_label("staff") == "**IMAGO privacy team:** "


def test_chinese_label():
    assert staff_label("maria", "zh") == "**Maria（IMAGO 私隱團隊）:** "
