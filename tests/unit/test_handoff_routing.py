"""The pool's routing rule (二次分配, DESIGN §2) is pure; property-tested."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from estate_platform.handoffs.routing import Candidate, choose, rank

CITIES = ("南京", "上海", "苏州")


@st.composite
def pools(draw):
    """Candidates with distinct ids, a sender among them or not, and some previous offerees."""
    ids = draw(st.lists(st.integers(min_value=1, max_value=60), unique=True, max_size=25))
    candidates = [Candidate(consultant_id=i, city=draw(st.sampled_from(CITIES)),
                            rating=draw(st.integers(min_value=0, max_value=100)),
                            open_load=draw(st.integers(min_value=0, max_value=5)),
                            covers_project=draw(st.booleans()), operating=draw(st.booleans()))
                  for i in ids]
    sender = draw(st.integers(min_value=1, max_value=60))
    previous = set(draw(st.lists(st.sampled_from(ids), max_size=5))) if ids else set()
    city = draw(st.sampled_from(CITIES))
    return candidates, sender, previous, city


def routed(candidates, sender, previous, city):
    return choose(candidates, project_city=city, sender_id=sender, previous_offerees=previous)


@given(pools(), st.randoms(use_true_random=False))
def test_the_same_pool_always_routes_to_the_same_consultant_whatever_its_order(pool, random):
    candidates, sender, previous, city = pool
    shuffled = list(candidates)
    random.shuffle(shuffled)
    assert routed(candidates, sender, previous, city) == routed(shuffled, sender, previous, city)
    assert rank(candidates, project_city=city, sender_id=sender, previous_offerees=previous) == \
        rank(shuffled, project_city=city, sender_id=sender, previous_offerees=previous)


@given(pools())
def test_never_the_sender_a_previous_offeree_or_someone_not_operating(pool):
    candidates, sender, previous, city = pool
    for candidate in rank(candidates, project_city=city, sender_id=sender, previous_offerees=previous):
        assert candidate.consultant_id != sender and candidate.consultant_id not in previous
        assert candidate.operating


@given(pools())
def test_nobody_is_chosen_only_when_nobody_is_eligible(pool):
    candidates, sender, previous, city = pool
    eligible = [c for c in candidates if c.operating and c.consultant_id != sender and c.consultant_id not in previous]
    chosen = routed(candidates, sender, previous, city)
    assert (chosen is None) == (not eligible)
    assert len(rank(candidates, project_city=city, sender_id=sender, previous_offerees=previous)) == len(eligible)


@given(pools())
def test_the_project_city_is_preferred_then_the_project_then_rating_then_load_then_id(pool):
    candidates, sender, previous, city = pool
    chosen = routed(candidates, sender, previous, city)
    eligible = [c for c in candidates if c.operating and c.consultant_id != sender and c.consultant_id not in previous]
    if chosen is None:
        return
    if any(c.city == city for c in eligible):
        assert chosen.city == city
    peers = [c for c in eligible if (c.city == city) == (chosen.city == city)]
    if any(c.covers_project for c in peers):
        assert chosen.covers_project
    peers = [c for c in peers if c.covers_project == chosen.covers_project]
    assert chosen.rating == max(c.rating for c in peers)
    peers = [c for c in peers if c.rating == chosen.rating]
    assert chosen.open_load == min(c.open_load for c in peers)
    assert chosen.consultant_id == min(c.consultant_id for c in peers if c.open_load == chosen.open_load)


@given(pools())
def test_routing_down_the_ranking_offers_each_eligible_consultant_once(pool):
    """What the service does on every decline or timeout: add the last offeree to the previous ones."""
    candidates, sender, previous, city = pool
    offered = set(previous)
    order = []
    while (chosen := routed(candidates, sender, offered, city)) is not None:
        assert chosen.consultant_id not in offered
        offered.add(chosen.consultant_id)
        order.append(chosen)
    assert order == rank(candidates, project_city=city, sender_id=sender, previous_offerees=previous)


def test_an_example_pool_in_order():
    pool = [
        Candidate(1, "上海", 100, 0, True),
        Candidate(2, "南京", 70, 0, False),
        Candidate(3, "南京", 90, 2, False),
        Candidate(4, "南京", 90, 0, False),
        Candidate(5, "南京", 40, 9, True),
        Candidate(6, "南京", 100, 0, True, operating=False),
        Candidate(7, "南京", 90, 0, False),
        Candidate(8, "南京", 100, 0, True),
    ]
    ranked = rank(pool, project_city="南京", sender_id=8, previous_offerees={2})
    assert [c.consultant_id for c in ranked] == [5, 4, 7, 3, 1]
