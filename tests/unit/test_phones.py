"""Phone normalisation and masking are pure rules; property-tested."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from estate_platform.phones import InvalidPhone, mask_phone, national, normalise_phone

mobiles = st.builds(lambda second, rest: f"1{second}{rest:09d}", st.sampled_from("3456789"),
                    st.integers(min_value=0, max_value=10**9 - 1))


FORMS = [
    lambda n: n, lambda n: "+86" + n, lambda n: "+86 " + n, lambda n: "86" + n, lambda n: "0086" + n,
    lambda n: f"{n[:3]} {n[3:7]} {n[7:]}", lambda n: f"+86 {n[:3]}-{n[3:7]}-{n[7:]}", lambda n: f" {n} ",
]


@given(mobiles, st.sampled_from(FORMS))
def test_every_written_form_of_a_mobile_normalises_to_one_e164(number, form):
    assert normalise_phone(form(number)) == "+86" + number


@given(mobiles)
def test_normalising_is_idempotent(number):
    once = normalise_phone(number)
    assert normalise_phone(once) == once and national(once) == number


@pytest.mark.parametrize("raw", ["", "12345678901", "1381234567", "138123456789", "+1 415 555 0100",
                                 "abcdefghijk", "0138123456789", "10012345678"])
def test_non_mainland_mobiles_are_refused(raw):
    with pytest.raises(InvalidPhone):
        normalise_phone(raw)


@given(mobiles)
def test_masks_hide_the_middle_and_keep_the_rule(number):
    e164 = "+86" + number
    assert mask_phone(e164, "full") == number
    first3 = mask_phone(e164, "first3_last4")
    assert first3 == number[:3] + "****" + number[-4:]
    first4 = mask_phone(e164, "first4_last3")
    assert first4 == number[:4] + "****" + number[-3:]
    assert "*" not in number and first3.count("*") == 4 and first4.count("*") == 4
