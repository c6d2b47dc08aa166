"""The recognition batch keeps what it read of each consultant across its chunks (issue 16 §2): the
lines it writes must be the ones a deal recognised on its own would get (DESIGN §3)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from estate_platform.clock import SHANGHAI
from estate_platform.commissions.models import CommissionLine
from estate_platform.db import commit, db
from estate_platform.deals import batch as recognition_batch, recognition
from estate_platform.deals.models import Deal
from estate_platform.ledger import services as ledger
from tests.conftest import now

MP = "/api/mp/v1"


@pytest.mark.parametrize("read_ahead", [False, True], ids=["in turn", "read ahead"])
@pytest.mark.parametrize("keep_at_most", [recognition.Context.KEEP_AT_MOST, 1],
                         ids=["consultants kept", "consultants dropped after every chunk"])
def test_a_batch_in_chunks_of_one_deal_writes_the_lines_each_deal_gets_alone(world, client, app, monkeypatch,
                                                                            keep_at_most, read_ahead):
    monkeypatch.setattr(recognition.Context, "KEEP_AT_MOST", keep_at_most)
    # Z invited A, A invited B, B invited C; D hands a buyer to C. The first chunk (C's deal) reads
    # C's and B's invite edges and meets A only as an inviter; B's deal, a later chunk, needs A's own
    # edge for its second level: what an earlier chunk read must not stop the walk.
    z = world.operating_consultant(name="子")
    a = world.operating_consultant(name="甲", inviter_code=z.invite_code)
    b = world.operating_consultant(name="乙", inviter_code=a.invite_code)
    c = world.operating_consultant(name="丙", inviter_code=b.invite_code)
    d = world.operating_consultant(name="丁")
    project = world.project()
    world.commission_rule(project)  # 2% of the price, on signing
    world.split_policy()  # fee 10%, referral 20%, uplines 10% / 5% of the rest
    handed = world.next_buyer_phone()
    offered = client.post(f"{MP}/handoffs", headers=d.auth, json={
        "buyer_phone": handed, "buyer_name": "周先生", "project_id": project, "to_consultant_id": c.id})
    assert client.post(f"{MP}/handoffs/{offered.get_json()['id']}/accept", headers=c.auth).status_code == 200
    deal_ids = [world.deal(project, handed)["id"]]
    for serving, price in ((b, 250_000_000), (a, 310_000_000), (c, 199_999_999)):
        phone = world.next_buyer_phone()
        world.register(serving, project, phone)
        deal_ids.append(world.deal(project, phone, price_cents=price)["id"])
    with app.app_context():  # the trigger reached without per-deal recognition (e.g. an import)
        today = now().astimezone(SHANGHAI).date()
        for deal_id in deal_ids:
            row = db.session.get(Deal, deal_id)
            row.stage, row.signed_on, row.trigger_reached_on = "signed", today, today
        commit(db.session)
        deals = [db.session.get(Deal, deal_id) for deal_id in deal_ids]
        alone = {deal.id: [(line.party_type, line.party_id, line.role, line.level, line.amount_cents, line.reason)
                           for line in recognition.lines_for(recognition.load_context(db.session, [deal]), deal)]
                 for deal in deals}

        commit(db.session)  # read ahead, the chunks are read on another connection
        assert recognition_batch.recognise_due(db.session, now=now(), chunk_size=1, after_chunk=lambda: commit(db.session),
                                         read_ahead=read_ahead) == len(deal_ids)
        commit(db.session)

        written = {deal_id: [] for deal_id in deal_ids}
        for line in db.session.scalars(select(CommissionLine).order_by(CommissionLine.deal_id, CommissionLine.seq)):
            written[line.deal_id].append((line.party_type, line.party_id, line.role, line.level, line.amount_cents,
                                          line.reason))
        assert written == alone
        uplines = {deal_id: [(line[1], line[3]) for line in lines if line[2] == "upline"]
                   for deal_id, lines in written.items()}
        assert uplines[deal_ids[0]] == [(b.id, 1), (a.id, 2)]
        assert uplines[deal_ids[1]] == [(a.id, 1), (z.id, 2)]  # A's edge, met in the first chunk as an inviter
        assert uplines[deal_ids[2]] == [(z.id, 1)]
        assert [line[1] for line in written[deal_ids[0]] if line[2] == "referral"] == [d.id]
        assert ledger.total(db.session) == 0 and ledger.unbalanced_transactions(db.session) == []
        assert recognition_batch.recognise_due(db.session, now=now(), chunk_size=1) == 0
