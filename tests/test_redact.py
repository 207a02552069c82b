"""Masking personal data: card numbers before storing, ID and mobile numbers in agent lists."""

import pytest

from triage.redact import (
    card_numbers,
    luhn_valid,
    mask_card_numbers,
    mask_id_numbers,
    mask_mobile_numbers,
    mask_personal,
)

VISA_16 = "4111111111111111"
UNIONPAY_19 = "6212345678901234569"  # 19 digits, Luhn-valid


def test_luhn_checksum():
    assert luhn_valid(VISA_16)
    assert luhn_valid(UNIONPAY_19)
    assert not luhn_valid("4111111111111112")


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"卡号{VISA_16}刷不了", "卡号411111******1111刷不了"),
        ("卡号 4111 1111 1111 1111 刷不了", "卡号 411111******1111 刷不了"),
        ("卡号4111-1111-1111-1111", "卡号411111******1111"),
        (f"银联卡{UNIONPAY_19}", "银联卡621234*********4569"),
        ("13位卡4222222222222", "13位卡422222***2222"),
        (f"{VISA_16} 100元", "411111******1111 100元"),
    ],
)
def test_card_numbers_are_masked_keeping_first_6_and_last_4(text, expected):
    assert mask_card_numbers(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "卡号4111111111111112不过校验",  # fails Luhn
        "订单号41111111111111110000",  # 20 digits: not a card
        "金额 1200 元，时间 2026-11-26",
        "手机13812345678",
        "商户号 898310048990001",  # a merchant number named as such is kept
    ],
)
def test_other_numbers_are_left_alone(text):
    assert mask_card_numbers(text) == text


def test_id_numbers_are_masked():
    assert mask_id_numbers("身份证110101199003071234") == "身份证110101********1234"
    assert mask_id_numbers("身份证 11010119900307123X 过期") == "身份证 110101********123X 过期"
    assert mask_id_numbers("不是身份证1101011990030712345") == "不是身份证1101011990030712345"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("电话13812345678", "电话138****5678"),
        ("电话 138 1234 5678", "电话 138****5678"),
        ("电话138-1234-5678", "电话138****5678"),
        ("电话+8613812345678", "电话+86138****5678"),
        ("座机010-12345678", "座机010-12345678"),
    ],
)
def test_mobile_numbers_are_masked(text, expected):
    assert mask_mobile_numbers(text) == expected


def test_mask_personal_masks_all_three():
    text = f"卡{VISA_16} 身份证110101199003071234 手机13812345678"
    assert mask_personal(text) == "卡411111******1111 身份证110101********1234 手机138****5678"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("卡号4111.1111.1111.1111", "卡号411111******1111"),  # dots
        ("卡号4111/1111/1111/1111", "卡号411111******1111"),  # slashes
        ("卡号 4111  1111  1111  1111 刷不了", "卡号 411111******1111 刷不了"),  # double spaces
        ("card4111111111111111", "card411111******1111"),  # glued to letters
        ("4111111111111111abc", "411111******1111abc"),
        ("卡号４１１１１１１１１１１１１１１１", "卡号４１１１１１******１１１１"),  # full-width digits
        ("卡号 4111 1111 1111 1111，手机 13812345678", "卡号 411111******1111，手机 13812345678"),
    ],
)
def test_card_numbers_written_in_other_ways_are_masked(text, expected):
    assert mask_card_numbers(text) == expected


def test_a_mobile_number_with_country_code_is_no_card_even_when_it_passes_luhn():
    assert luhn_valid("8613812345678")
    assert mask_card_numbers("电话 +86 138 1234 5678") == "电话 +86 138 1234 5678"
    assert mask_personal("电话 +86 138 1234 5678") == "电话 +86 138****5678"


def test_three_separators_end_a_number():
    text = "4111 1111   1111 1111"  # two 8-digit numbers, not one card
    assert mask_card_numbers(text) == text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("手机号13812345678abc", "手机号138****5678abc"),
        ("tel13812345678", "tel138****5678"),
        ("电话 138.1234.5678", "电话 138****5678"),
        ("身份证 110101 19900307 1234", "身份证 110101********1234"),
        ("ID110101199003071234号", "ID110101********1234号"),
    ],
)
def test_ids_and_mobiles_touching_letters_or_grouped_are_masked(text, expected):
    assert mask_personal(text) == expected


def test_card_numbers_lists_the_cards_in_a_text():
    assert card_numbers("卡 4111 1111 1111 1111 和 6212345678901234569，金额 100") == [VISA_16, UNIONPAY_19]
    assert card_numbers("商户号 898310048990001") == []


@pytest.mark.parametrize(
    "text",
    [
        " ".join("4111" for _ in range(400)),  # 1,600 digits in groups
        "-".join("1" for _ in range(1000)),  # single digits with separators
        "1" * 2000,
        "4111111111111111" * 125,
    ],
)
def test_adversarial_digit_runs_are_masked_consistently(text):
    masked = mask_personal(text)
    assert mask_personal(masked) == masked  # masking is idempotent: the stored text is final
    assert not card_numbers(masked)  # nothing card-like survives


def test_a_mistyped_unionpay_card_is_still_masked():
    # 6222 0212 3456 7890 fails the Luhn check (one digit wrong), but 16 digits starting 62 are a card.
    assert mask_card_numbers("卡号 6222 0212 3456 7890 刷不了") == "卡号 622202******7890 刷不了"
    assert mask_card_numbers("商户号 898310058120345") == "商户号 898310058120345"  # 15 digits: a MID
