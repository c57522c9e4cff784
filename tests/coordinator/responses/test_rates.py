from coordinator.responses.rates import Counts, attempted, percent, rates


def test_rates_follow_their_definitions() -> None:
    r = rates(Counts(attempted=200, sent=160, auto_replies=120, replies=8, refusals=4, clicks=16))
    assert r.delivery_rate == 0.8  # 到達率 = sent ÷ attempted
    assert r.auto_reply_rate == 0.75
    assert r.reply_rate == 0.05  # 反応率: human replies other than refusals ÷ sent
    assert r.refusal_rate == 0.025  # お断り率 = refusals ÷ sent
    assert r.click_rate == 0.1


def test_no_denominator_gives_no_rate() -> None:
    r = rates(Counts(attempted=0, sent=0))
    assert r.as_dict() == dict.fromkeys(
        ["delivery_rate", "auto_reply_rate", "reply_rate", "refusal_rate", "click_rate"]
    )
    assert percent(r.reply_rate) == "-"
    assert percent(1 / 8) == "12.5%"


def test_attempted_counts_only_items_that_tried_to_deliver() -> None:
    assert attempted(sent=5, failed=3, in_doubt=2) == 10
