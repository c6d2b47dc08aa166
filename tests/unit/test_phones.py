"""Phone normalisation and masking are pure rules; property-tested."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.phones import (PHONE_INPUT_MAX_LENGTH, InvalidPhone, mask_phone, national,
                                    normalise_contact_phone, normalise_phone, search_digits)

mobiles = st.builds(lambda second, rest: f"1{second}{rest:09d}", st.sampled_from("3456789"),
                    st.integers(min_value=0, max_value=10**9 - 1))


FORMS = [
    lambda n: n, lambda n: "+86" + n, lambda n: "+86 " + n, lambda n: "86" + n, lambda n: "0086" + n,
    lambda n: f"{n[:3]} {n[3:7]} {n[7:]}", lambda n: f"+86 {n[:3]}-{n[3:7]}-{n[7:]}", lambda n: f" {n} ",
]

# What people type between digits: ASCII and ideographic spaces, NBSP, every kind of
# dash (full-width, en, em, minus sign), dots, parentheses (ASCII and full-width) and the
# invisible marks a number copied from a phone's contacts carries.
SEPARATORS = [" ", "\u3000", "\u00a0", "\u2009", "-", "\uff0d", "\u2010", "\u2013", "\u2014", "\u2212", "\ufe63",
              ".", "\uff0e", "\u00b7", "(", ")", "\uff08", "\uff09", "\u200b", "\u202d", "\u202c"]
PREFIXES = ["", "+86", "86", "0086", "\uff0b\uff18\uff16", "+86 ", "(+86)", "\uff08\uff0b\uff18\uff16\uff09"]
FULL_WIDTH = {str(d): chr(0xFF10 + d) for d in range(10)}


@st.composite
def typed_forms(draw):
    """A mobile as a person may type it: some digits full-width, separators here and
    there, maybe a country code; never longer than a phone field accepts."""
    number = draw(mobiles)
    digits = [FULL_WIDTH[d] if draw(st.booleans()) else d for d in number]
    prefix = draw(st.sampled_from(PREFIXES))
    if prefix:
        prefix += draw(st.sampled_from(["", *SEPARATORS]))
    room = PHONE_INPUT_MAX_LENGTH - len(prefix) - len(digits)
    gaps = draw(st.lists(st.tuples(st.integers(0, len(digits)), st.sampled_from(SEPARATORS)), max_size=room))
    for position, separator in sorted(gaps, reverse=True):
        digits.insert(position, separator)
    return number, prefix + "".join(digits)


@given(mobiles, st.sampled_from(FORMS))
def test_every_written_form_of_a_mobile_normalises_to_one_e164(number, form):
    assert normalise_phone(form(number)) == "+86" + number


@given(typed_forms())
def test_separators_full_width_digits_and_country_codes_all_normalise_to_the_same_number(typed):
    number, text = typed
    assert len(text) <= PHONE_INPUT_MAX_LENGTH
    assert normalise_phone(text) == "+86" + number
    assert search_digits(text) == number


@given(st.one_of(st.text(max_size=40), st.text(alphabet="0123456789０１２３４５６７８９+＋-－ ()（）.\u3000", max_size=40),
                 st.none(), st.integers(), st.binary()))
def test_junk_is_refused_only_with_the_phone_error(junk):
    try:
        phone = normalise_phone(junk)
    except InvalidPhone:
        return
    assert phone.startswith("+86") and len(phone) == 14 and phone[3:].isascii() and phone[3:].isdigit()


@given(mobiles)
def test_normalising_is_idempotent(number):
    once = normalise_phone(number)
    assert normalise_phone(once) == once and national(once) == number


@pytest.mark.parametrize("raw", ["", "12345678901", "1381234567", "138123456789", "+1 415 555 0100",
                                 "abcdefghijk", "0138123456789", "10012345678",
                                 "١٣٩١٢٣٤٧٧٧٢",  # Arabic-Indic digits are not what NFKC folds to ASCII
                                 "+86 +86 13912347772", "868613912347772", "+8612345",
                                 "13912347772" + " " * (PHONE_INPUT_MAX_LENGTH - 10)])
def test_non_mainland_mobiles_are_refused(raw):
    with pytest.raises(InvalidPhone):
        normalise_phone(raw)


def test_a_country_code_is_dropped_only_before_a_whole_mobile():
    assert normalise_phone("86 139 1234 7772") == "+8613912347772"
    with pytest.raises(InvalidPhone):
        normalise_phone("8613912347")  # "86" then ten digits is no mobile


@pytest.mark.parametrize("text,digits", [("１３９ １２３４", "1391234"), ("7772", "7772"), ("+86 139", "86139"),
                                         ("＋８６ １３９－１２３４－７７７２", "13912347772")])
def test_a_search_for_part_of_a_phone_looks_for_its_ascii_digits(text, digits):
    assert search_digits(text) == digits


@pytest.mark.parametrize("text", ["张三", "顾问123", "", None, "+", "١٣٩"])
def test_a_search_that_is_not_a_phone_has_no_digits_to_look_for(text):
    assert search_digits(text) is None


@pytest.mark.parametrize("typed,stored", [("025-84561234", "025-84561234"), ("０２５－８４５６ １２３４", "025-84561234"),
                                          ("025—84561234", "025-84561234"), ("＋８６ １３９ ００００ １１１１", "+8613900001111")])
def test_a_developer_contact_is_a_mobile_in_e164_or_a_landline_in_ascii(typed, stored):
    assert normalise_contact_phone(typed) == stored


@pytest.mark.parametrize("typed", ["call me", "12345", "０２５（８４５６）１２３４", "٠٢٥-٨٤٥٦١٢٣٤", None, "0" * 40])
def test_a_developer_contact_that_is_no_number_is_refused(typed):
    with pytest.raises(InvalidPhone):
        normalise_contact_phone(typed)


@given(mobiles)
def test_masks_hide_the_middle_and_keep_the_rule(number):
    e164 = "+86" + number
    assert mask_phone(e164, "full") == number
    first3 = mask_phone(e164, "first3_last4")
    assert first3 == number[:3] + "****" + number[-4:]
    first4 = mask_phone(e164, "first4_last3")
    assert first4 == number[:4] + "****" + number[-3:]
    assert "*" not in number and first3.count("*") == 4 and first4.count("*") == 4
