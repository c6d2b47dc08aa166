"""The evidence chain's stand-ins for a buyer (evidence.pseudonyms, DESIGN §7.9): masked
phone and keyed hashes, never the number; one buyer's key reproduces his hashes, any
other key does not."""
from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from estate_platform.evidence import custody
from estate_platform.evidence.pseudonyms import buyer_facts, keyed_hash, matches, new_buyer_key

PHONE_RUN = re.compile(r"(?<![0-9])(?:\+?86)?1[3-9][0-9]{9}(?![0-9])")
phones = st.from_regex(r"\+861[3-9][0-9]{9}", fullmatch=True)
names = st.text(alphabet="周李王张先生女士老板", min_size=1, max_size=6)


@given(phone=phones, name=names)
def test_the_facts_hold_no_phone_and_no_name(phone, name):
    facts = buyer_facts(new_buyer_key(), phone, name)
    text = json.dumps(facts, ensure_ascii=False)
    assert PHONE_RUN.search(text) is None and name not in text
    assert facts["buyer_phone_masked"] == phone[3:6] + "****" + phone[-4:]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", facts[k]) for k in ("buyer_phone_hash", "buyer_name_hash"))


@given(phone=phones, name=names)
def test_only_the_buyers_own_key_links_a_record_to_him(phone, name):
    key = new_buyer_key()
    payload = buyer_facts(key, phone, name)
    assert matches(key, payload, phone=phone, name=name)
    assert not matches(new_buyer_key(), payload, phone=phone)
    assert not matches(None, payload, phone=phone)  # erased: the key is gone


def test_an_erased_buyer_leaves_the_masked_phone_only():
    assert buyer_facts(None, "+8613812345678", "周先生") == {"buyer_phone_masked": "138****5678"}


def test_hashes_of_phone_and_name_are_separated_by_kind():
    key = new_buyer_key()
    assert keyed_hash(key, "phone", "x") != keyed_hash(key, "name", "x")


@given(phone=phones)
def test_a_legacy_payload_becomes_the_new_form(phone):
    key = new_buyer_key()
    rewritten = custody.pseudonymise_payload({"buyer_phone": phone, "mode": "report_deal", "buyer_id": 3}, {phone: key})
    assert rewritten == {"mode": "report_deal", "buyer_id": 3, **buyer_facts(key, phone)}
    customer = custody.pseudonymise_payload({"phone": phone, "name": "周先生", "existing_customer_id": 1}, {phone: key})
    assert "phone" not in customer and "name" not in customer
    assert matches(key, customer, phone=phone, name="周先生")
    assert not custody.is_legacy(rewritten) and custody.is_legacy({"buyer_phone": phone})
    assert not custody.is_legacy({"buyer_phone": "138****5678"})  # revisit outcomes were masked already
