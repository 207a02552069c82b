"""Ticket storage on the desk database (SQLite, or PostgreSQL when POSDESK_TEST_DATABASE_URL is
set): filing (masked, triaged or pending), agents' actions and history, the queue, similar tickets
and the labels given back to training."""

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from kb.store import list_articles, list_categories
from webapp.desk import tickets
from webapp.desk.listing import TicketQuery, list_page
from webapp.desk.schema import ticket_events
from webapp.desk.schema import tickets as ticket_table
from webapp.desk.storage import Desk
from webapp.desk.tickets import TicketError

CARD = "4111 1111 1111 1111"


@pytest.fixture
def tdb(desk):
    """The desk database, empty."""
    return desk


def count(desk: Desk, table=ticket_table, *where) -> int:
    """How many rows the table holds (matching `where`)."""
    with desk.read() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def test_filing_masks_card_numbers_and_triages(tdb, fake_triager):
    ticket = tickets.file_ticket(
        tdb, f"退货提示没有权限，卡号 {CARD}", name="王女士", phone="13812345678", triager=fake_triager
    )
    assert "4111 1111 1111 1111" not in ticket.text
    assert "411111******1111" in ticket.text
    assert ticket.number == f"PD{ticket.id:06d}"
    assert ticket.status == "new"
    assert ticket.triage_status == "done"
    assert ticket.category == "txn-not-enabled"
    assert ticket.prediction.model_version == "fake-1"
    assert [e.action for e in tickets.history(tdb, ticket.id)] == ["created", "triaged"]


def test_without_a_model_tickets_wait_and_are_triaged_later(tdb, fake_triager):
    ticket = tickets.file_ticket(tdb, "商户被冻结了怎么办")
    assert ticket.triage_status == "pending" and ticket.prediction is None and ticket.category is None
    assert ticket.needs_review
    assert tickets.triage_pending(tdb, fake_triager) == 1
    triaged = tickets.get_ticket(tdb, ticket.id)
    assert triaged.category == "merchant-risk-status"
    assert not triaged.needs_review
    assert tickets.triage_pending(tdb, fake_triager) == 0


def test_late_triage_keeps_the_agents_category(tdb, fake_triager):
    ticket = tickets.file_ticket(tdb, "商户被冻结了怎么办")
    tickets.set_category(tdb, ticket.id, "merchant-info", "lina")
    tickets.triage_pending(tdb, fake_triager)
    after = tickets.get_ticket(tdb, ticket.id)
    assert after.category == "merchant-info"
    assert after.prediction.category == "merchant-risk-status"
    assert not after.needs_review


@pytest.mark.parametrize(
    "text, message",
    [("", "text is empty"), ("   ", "text is empty"), ("字" * 2001, "longer than 2000"), (42, "must be a string")],
)
def test_bad_text_is_refused(tdb, text, message):
    with pytest.raises(TicketError, match=message):
        tickets.file_ticket(tdb, text)
    assert count(tdb) == 0


def test_confirm_and_correct_are_recorded_with_who_and_when(tdb, kb_db, fake_triager):
    known = {c.slug for c in list_categories(kb_db, "agent")}
    ticket = tickets.file_ticket(tdb, "退货没有权限", triager=fake_triager)
    confirmed = tickets.set_category(tdb, ticket.id, "txn-not-enabled", "lina")
    assert confirmed.category_by == "lina" and confirmed.category_at
    corrected = tickets.set_category(tdb, ticket.id, "operation", "wang")
    assert corrected.category == "operation" and corrected.category_by == "wang"
    events = tickets.history(tdb, ticket.id)
    assert [(e.action, e.actor, e.old, e.new) for e in events[2:]] == [
        ("category_confirmed", "lina", "txn-not-enabled", "txn-not-enabled"),
        ("category_corrected", "wang", "txn-not-enabled", "operation"),
    ]
    with pytest.raises(TicketError, match="unknown category"):
        tickets.set_category(tdb, ticket.id, "no-such-category", "lina", known)


def test_status_note_and_answer(tdb, kb_db):
    known = {a.slug for a in list_articles(kb_db, audience="agent")}
    ticket = tickets.file_ticket(tdb, "签到失败")
    tickets.set_status(tdb, ticket.id, "open", "lina")
    tickets.set_status(tdb, ticket.id, "open", "lina")  # no change, no event
    tickets.add_note(tdb, ticket.id, f"商户说卡号是{CARD.replace(' ', '')}", "lina")
    answered = tickets.mark_answer(tdb, ticket.id, "signin-failed", "lina", known)
    assert answered.status == "open" and answered.answer_article == "signin-failed"
    events = tickets.history(tdb, ticket.id)
    assert [e.action for e in events] == ["created", "status", "note", "answer"]
    assert "411111******1111" in events[2].new
    with pytest.raises(TicketError, match="unknown status"):
        tickets.set_status(tdb, ticket.id, "archived", "lina")
    with pytest.raises(TicketError, match="note is empty"):
        tickets.add_note(tdb, ticket.id, "  ", "lina")
    with pytest.raises(TicketError, match="unknown article"):
        tickets.mark_answer(tdb, ticket.id, "no-such-article", "lina", known)
    with pytest.raises(LookupError):
        tickets.set_status(tdb, 999, "open", "lina")


def test_queue_is_newest_first_paginated_and_filtered(tdb, fake_triager):
    filed = [tickets.file_ticket(tdb, f"退货没有权限 {i}", triager=fake_triager) for i in range(5)]
    frozen = tickets.file_ticket(tdb, "商户被冻结", triager=fake_triager)
    vague = tickets.file_ticket(tdb, "机器有问题", triager=fake_triager)
    tickets.set_status(tdb, filed[0].id, "resolved", "lina")

    first = list_page(tdb, TicketQuery(), "newest", 1, 3)
    assert first.total == 7 and first.pages == 3
    assert [t.id for t in first.tickets] == [vague.id, frozen.id, filed[4].id]
    assert [t.id for t in list_page(tdb, TicketQuery(), "newest", 3, 3).tickets] == [filed[0].id]

    assert {t.id for t in list_page(tdb, TicketQuery(category="merchant-risk-status"), "newest").tickets} == {frozen.id}
    assert [t.id for t in list_page(tdb, TicketQuery(status="resolved"), "newest").tickets] == [filed[0].id]
    assert [t.id for t in list_page(tdb, TicketQuery(needs_review=True), "newest").tickets] == [vague.id]

    with tdb.write() as conn:  # 10:00 in China
        conn.execute(update(ticket_table).where(ticket_table.c.id == frozen.id).values(created="2026-01-01T02:00:00Z"))
    day = dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    one_day = TicketQuery(since=day, until=day + dt.timedelta(days=1))
    assert [t.id for t in list_page(tdb, one_day, "newest").tickets] == [frozen.id]


def test_similar_tickets_share_words(tdb):
    first = tickets.file_ticket(tdb, "退货的时候提示没有权限")
    tickets.file_ticket(tdb, "打印机不出纸")
    third = tickets.file_ticket(tdb, "做退货一直提示没有权限怎么办")
    assert [t.id for t in tickets.similar_tickets(tdb, third)][:1] == [first.id]
    assert third.id not in [t.id for t in tickets.similar_tickets(tdb, third)]


def test_agent_labels_hold_the_latest_decision(tdb, fake_triager):
    confirmed = tickets.file_ticket(tdb, "退货没有权限", triager=fake_triager)
    corrected = tickets.file_ticket(tdb, "机器有问题", triager=fake_triager)
    tickets.file_ticket(tdb, "钱没到账", triager=fake_triager)  # never reviewed: not a label
    tickets.set_category(tdb, confirmed.id, "txn-not-enabled", "lina")
    tickets.set_category(tdb, corrected.id, "operation", "lina")
    tickets.set_category(tdb, corrected.id, "device-hardware", "wang")
    tickets.mark_answer(tdb, corrected.id, "printer-issue", "wang")
    labels = tickets.agent_labels(tdb)
    assert [(t.text, t.category, t.articles) for t in labels] == [
        ("退货没有权限", "txn-not-enabled", ()),
        ("机器有问题", "device-hardware", ("printer-issue",)),
    ]
    assert len({t.id for t in labels}) == 2


def test_api_dict_carries_the_triage(tdb, fake_triager):
    pending = tickets.file_ticket(tdb, "商户被冻结").to_dict()
    assert pending["triage"] is None and pending["triage_status"] == "pending"
    done = tickets.file_ticket(tdb, "商户被冻结", triager=fake_triager).to_dict()
    assert done["triage"]["category"] == "merchant-risk-status"
    assert done["contact"] == {"name": "", "phone": "", "merchant_no": "", "terminal_no": "", "email": ""}


def _file_many(url: str, writer: int, many: int, errors) -> None:
    """In a child process: file `many` tickets on its own connections, reporting any failure."""
    desk = Desk(url)
    for n in range(many):
        try:
            tickets.file_ticket(desk, f"第 {writer} 号写入者的第 {n} 个工单：退货没有权限", phone="13812345678")
        except Exception as e:  # any failure is what the test looks for
            errors.put(repr(e))
    desk.close()


def test_concurrent_writers_all_succeed_and_every_ticket_has_its_history(desk):
    import multiprocessing

    desk.close()  # no pooled connection crosses the fork
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    writers = [context.Process(target=_file_many, args=(desk.url, w, 15, errors)) for w in range(6)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
    assert all(p.exitcode == 0 for p in writers)
    failures = []
    while not errors.empty():
        failures.append(errors.get())
    assert failures == []
    assert count(desk) == 90
    assert count(desk, ticket_events, ticket_events.c.action == "created") == 90


def test_filing_is_one_transaction_with_its_history(tdb, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tickets, "_record", broken)
    with pytest.raises(RuntimeError):
        tickets.file_ticket(tdb, "退货提示没有权限")
    assert count(tdb) == 0  # no ticket without its "created" event


def test_an_idempotency_key_files_once(tdb, fake_triager):
    key = tickets.RequestKey("token:1", "retry-1", "fingerprint-a")
    first, created = tickets.file_ticket_once(tdb, key, "退货提示没有权限", triager=fake_triager)
    again, created_again = tickets.file_ticket_once(tdb, key, "退货提示没有权限", triager=fake_triager)
    assert created and not created_again and again.id == first.id
    assert count(tdb) == 1
    other_token = tickets.RequestKey("token:2", "retry-1", "fingerprint-a")
    assert tickets.file_ticket_once(tdb, other_token, "退货提示没有权限")[1]  # keys are per token
    with pytest.raises(tickets.RequestKeyReused):
        tickets.file_ticket_once(tdb, tickets.RequestKey("token:1", "retry-1", "fingerprint-b"), "钱没到账啊啊啊")


def test_the_backlog_is_triaged_in_batches(tdb, fake_triager):
    filed = [tickets.file_ticket(tdb, f"商户被冻结了 {n}") for n in range(5)]
    assert tickets.pending_count(tdb) == 5
    assert tickets.triage_pending(tdb, fake_triager, batch_size=2) == 5
    assert tickets.pending_count(tdb) == 0
    assert all(tickets.get_ticket(tdb, t.id).category == "merchant-risk-status" for t in filed)


def test_lists_show_a_preview_masked_once_when_filed(tdb):
    ticket = tickets.file_ticket(
        tdb, "身份证110101199003071234，手机 139 1234 5678，卡号 " + CARD + "。" + "很长" * 200, phone="13812345678"
    )
    assert ticket.preview.startswith("身份证110101********1234，手机 139****5678，卡号 411111******1111。")
    assert len(ticket.preview) == tickets.PREVIEW_CHARS
    assert ticket.masked_phone == "138****5678"
    assert "110101199003071234" in ticket.text  # the agent's ticket page keeps the ID (cards are masked)


def test_contact_fields_are_masked_and_must_be_unicode(tdb):
    ticket = tickets.file_ticket(tdb, "退货没有权限", name=f"王 {CARD}")
    assert ticket.name == "王 411111******1111"
    with pytest.raises(TicketError, match="not valid Unicode"):
        tickets.file_ticket(tdb, "退货没有权限\ud800")


def test_a_page_past_the_end_is_the_last_page(tdb):
    for n in range(3):
        tickets.file_ticket(tdb, f"退货没有权限 {n}")
    page = list_page(tdb, TicketQuery(), "newest", 2**63 - 1, 2)
    assert page.page == 2 and len(page.tickets) == 1
