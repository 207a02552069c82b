"""Triage behaviour: what category, articles and flags a merchant's complaint gets."""

from __future__ import annotations

import json
import os

import pytest

from kb.store import load_categories
from kb.text import analyse
from triage.dataset import read_tickets, split, ticket_files
from triage.model import ModelError, load_model, model_exists
from triage.prediction import OUT_OF_SCOPE

CASES = [
    ("退货的时候提示该商户没有权限", "txn-not-enabled"),
    ("外国客人拿visa卡刷不了，说不支持", "txn-not-enabled"),
    ("收到短信说商户被冻结了，现在刷卡提示无权限", "merchant-risk-status"),
    ("半年没用的机器今天拿出来刷，说没有权限", "merchant-risk-status"),
    ("营业执照过期了，现在刷卡显示没权限", "merchant-info"),
    ("想把结算卡换成另一张银行卡，怎么操作", "merchant-info"),
    ("店搬到隔壁区以后，刷卡就提示没有权限了", "terminal-binding"),
    ("新买的机器还没激活，怎么绑定商户号", "terminal-binding"),
    ("昨天系统升级以后一刷卡就显示该商户没有权限", "terminal-software"),
    ("签到失败，一直提示请重新签到", "terminal-software"),
    ("新来的收银员用操作员密码做退货，提示没权限", "operation"),
    ("昨天的单子想撤销，撤不了", "operation"),
    ("刷5万提示超限，1万就可以", "limits"),
    ("顾客的卡刷了说余额不足", "card-issuer"),
    ("就这一张卡提示密码错误次数超限，别的卡都正常", "card-issuer"),
    ("一直显示通讯失败，连接超时", "network-host"),
    ("机器黑屏了，开不了机", "device-hardware"),
    ("打印机不出纸，小票打不出来", "device-hardware"),
    ("昨天刷的钱今天还没到账", "settlement"),
    ("说我暂缓结算，要我提供交易材料", "settlement"),
    ("费率从0.6涨到0.68了，怎么回事", "fees"),
    ("一开机就扣了99的激活费", "fees"),
    ("刷卡后账单上显示的商户名不是我的店", "illegal-acquiring"),
    ("网上说免费领pos机，寄来以后就要交押金，是不是骗子", "illegal-acquiring"),
]


@pytest.mark.parametrize(("text", "category"), CASES)
def test_complaints_get_their_category(triager, text, category):
    assert triager.classify(text).category == category


@pytest.mark.parametrize("text", ["退货的时候提示该商户没有权限", "店搬了以后刷卡显示没权限", "钱没到账"])
@pytest.mark.parametrize("decoration", ["请问{}", "{}，谢谢", "您好，{}，麻烦看下", "{} 商户号898310058120345"])
def test_politeness_and_merchant_numbers_do_not_change_the_label(triager, text, decoration):
    plain, decorated = triager.classify(text), triager.classify(decoration.format(text))
    assert decorated.needs_review == plain.needs_review and decorated.articles[0] == plain.articles[0]
    if not plain.needs_review:  # a torn ticket goes to an agent: its first guess between two causes routes nothing
        assert decorated.category == plain.category


def test_traditional_and_obfuscated_spellings_are_understood(triager):
    assert triager.classify("退貨的時候提示該商戶沒有權限").category == "txn-not-enabled"
    assert triager.classify("刷ka卡显示的商户名不是我的").category == "illegal-acquiring"


def test_a_code_only_ticket_goes_by_its_code(triager):
    prediction = triager.classify("显示97")
    assert prediction.category == "terminal-binding"
    assert prediction.codes == ("97",)
    assert prediction.articles[0] == "code-97-unregistered"


def test_prediction_carries_everything_the_desk_shows(triager):
    p = triager.classify("退货的时候提示该商户没有权限，应答码58")
    assert p.category == "txn-not-enabled" and 0 < p.confidence <= 1
    assert [a.category for a in p.alternatives][0] == p.category and len(p.alternatives) == 3
    assert sum(a.confidence for a in p.alternatives) <= 1.0001
    assert p.codes == ("58",)
    assert "refund-void-permission" in p.articles[:3] and len(p.articles) >= 3
    assert "退货" in p.explanation
    assert p.model_version
    json.dumps(p.to_dict(), ensure_ascii=False)


def test_merchant_articles_come_before_internal_ones(triager):
    articles = triager.classify("商户被风控冻结了怎么解冻").articles
    internal = [i for i, slug in enumerate(articles) if slug.startswith("agent-")]
    public = [i for i, slug in enumerate(articles) if not slug.startswith("agent-")]
    assert len(public) >= 3 and (not internal or min(internal) > max(public))


def test_a_bare_symptom_leads_to_the_diagnosis_guide(triager):
    for text in ("pos机显示该商户没有权限", "刷卡提示没权限", "該商戶沒有權限"):
        assert triager.classify(text).articles[0] == "no-permission-diagnosis"
    assert triager.classify("退货的时候提示该商户没有权限").articles[0] != "no-permission-diagnosis"


def test_uncertain_tickets_are_flagged_for_review(triager):
    torn = triager.classify("店搬了以后刷卡显示没权限")  # the terminal moved, or the registered address is stale?
    assert torn.needs_review and torn.in_scope and torn.articles[0] == "no-permission-diagnosis"
    assert {"terminal-relocation", "info-mismatch"} <= set(torn.articles)
    assert not triager.classify("打印机不出纸，小票打不出来").needs_review


@pytest.mark.parametrize(
    "text",
    [
        "你好，在吗",
        "房贷提前还款要怎么申请",
        pytest.param(
            "我的信用卡被冻结了怎么解冻",
            marks=pytest.mark.xfail(
                strict=True,
                reason="known gap: read as a statement (怎么 left out), 解冻 outweighs the cardholder's 我的信用卡; "
                "the scope check once caught it by its question form, which also rejected plain fee questions",
            ),
        ),
        "淘宝买的东西退款一直没到账",
        "食堂饭卡机扣了两次钱",
    ],
)
def test_text_that_is_not_about_pos_acquiring_is_out_of_scope(triager, text):
    prediction = triager.classify(text)
    assert not prediction.in_scope and prediction.category == OUT_OF_SCOPE
    assert prediction.needs_review and prediction.articles == ()
    assert prediction.to_dict()["in_scope"] is False


@pytest.mark.parametrize("text", ["58", "退货", "机器坏了", "商户被冻结了，刷不了卡"])
def test_short_merchant_text_stays_in_scope(triager, text):
    assert triager.classify(text).in_scope


@pytest.mark.parametrize("text", ["急急急 机器坏了 在线等", "您好，东西卖了钱没到账，谢谢", "hello 退货 thanks"])
def test_courtesy_and_urgency_never_take_a_ticket_out_of_scope(triager, text):
    assert triager.classify(text).in_scope


def test_batch_and_single_classification_agree(triager):
    texts = [t for t, _ in CASES[:8]] + ["手续费怎么涨了？", "今天天气怎么样"]  # with question words too
    batch = triager.classify_many(texts)
    single = [triager.classify(t) for t in texts]
    assert [p.category for p in batch] == [p.category for p in single]
    assert [p.in_scope for p in batch] == [p.in_scope for p in single]
    assert triager.classify_many([]) == []


@pytest.mark.parametrize(
    ("question", "statement"),
    [("手续费怎么涨了", "手续费涨了"), ("为什么钱还没到账呢？", "钱还没到账"), ("扣费是不是变多了", "扣费变多了")],
)
def test_asking_is_no_sign_of_another_subject(triager, question, statement):
    """The out-of-scope corpus is mostly questions and tickets mostly statements: the scope check
    reads a text without its question words, so a plain question about fees or settlement is in
    scope like the statement it asks about."""
    model = triager.model
    asked, told = model.scores(analyse(question)).in_scope, model.scores(analyse(statement)).in_scope
    assert abs(asked - told) < 0.1
    assert triager.classify(question).in_scope and triager.classify(statement).in_scope


def test_a_categorys_best_article_adds_to_its_margin_and_calibration_keeps_the_order(triager):
    """The article ranker (which also learned the articles' titles and the code table) is a second
    opinion on the category; the one sigmoid fitted on held-out tickets never reorders categories."""
    import numpy as np

    from triage.features import analyse_many

    model = triager.model
    assert model.article_evidence > 0
    raw = model.raw_many(analyse_many([text for text, _ in CASES]))
    c, margins = model.n_categories, model.category_margins(raw)
    for j, label in enumerate(model.labels):
        articles = [c + k for k, slug in enumerate(model.slugs) if model.article_category.get(slug) == label]
        assert np.allclose(margins[:, j], raw[:, j] + model.article_evidence * raw[:, articles].max(axis=1))
    assert model.calibration[0, 0] < 0 and (model.calibration == model.calibration[:, :1]).all()
    probabilities = np.stack([s.categories for s in model.scores_of(raw)])
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities.argmax(axis=1) == margins.argmax(axis=1)).all()


def test_a_model_saved_before_article_evidence_keeps_its_own_margins(triager):
    import numpy as np

    from triage.features import analyse_many
    from triage.model import TriageModel

    m = triager.model
    meta = {k: v for k, v in m.meta.items() if k != "article_evidence"}
    older = TriageModel(m.featuriser, m.labels, m.slugs, m.weights, m.bias, m.calibration, meta)
    raw = older.raw_many(analyse_many(["刷卡提示58", "钱没到账"]))
    assert older.article_evidence == 0 and np.array_equal(older.category_margins(raw), raw[:, : m.n_categories])


def test_calibration_needs_held_out_tickets_of_more_than_one_outcome(triager):
    import numpy as np

    from triage.training import calibrate

    m = triager.model
    copy = type(m)(m.featuriser, m.labels, m.slugs, m.weights, m.bias, np.zeros_like(m.calibration), m.meta)
    calibrate(copy, np.zeros((0, m.weights.shape[1])), [])
    assert not copy.calibration.any()  # left as it was


def test_held_out_split_is_stratified_and_stable():
    tickets = read_tickets(ticket_files())
    train, held = split(tickets)
    assert not {t.id for t in train} & {t.id for t in held}
    for category in {t.category for t in tickets}:
        total = sum(t.category == category for t in tickets)
        share = sum(t.category == category for t in held) / total
        assert 0.2 <= share <= 0.3
    assert split(list(reversed(tickets)))[1] == list(reversed(held))


def test_missing_or_incompatible_model_says_to_retrain(tmp_path, model_dir):
    assert not model_exists(tmp_path)
    with pytest.raises(ModelError, match="posdesk triage train"):
        load_model(tmp_path)
    copy = tmp_path / "old"
    copy.mkdir()
    sidecar = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    sidecar["versions"]["format"] = "1"
    (copy / "model.json").write_text(json.dumps(sidecar), encoding="utf-8")
    (copy / "model.npz").write_bytes((model_dir / "model.npz").read_bytes())
    with pytest.raises(ModelError, match="retrain"):
        load_model(copy)
    (copy / "model.json").write_text((model_dir / "model.json").read_text(encoding="utf-8"), encoding="utf-8")
    (copy / "model.npz").write_bytes((model_dir / "model.npz").read_bytes()[:5000])  # a torn file
    with pytest.raises(ModelError, match="cannot be read"):
        load_model(copy)


def test_saving_replaces_the_model_whole_and_leaves_no_temporary_files(tmp_path, triager):
    from triage.model import save_model

    save_model(triager.model, tmp_path, {"note": "first"})
    (tmp_path / ".model.npz.abc.tmp").write_bytes(b"left by a crash")
    old = tmp_path / ".model.npz.abc.tmp"
    import os

    os.utime(old, (0, 0))  # long ago: stale
    save_model(triager.model, tmp_path, {"note": "second"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.npz"]
    reloaded = load_model(tmp_path)
    assert reloaded.classify("钱没到账").category == triager.classify("钱没到账").category


def test_sidecar_records_what_trained_the_model(model_dir):
    sidecar = json.loads((model_dir / "model.json").read_text(encoding="utf-8"))
    for key in ("trained_at", "data_hash", "labels", "metrics", "versions", "review_threshold"):
        assert key in sidecar
    assert sidecar["labels"] == sorted(c.slug for c in load_categories())
    assert {"format", "jieba", "numpy"} <= set(sidecar["versions"])
    assert 0 < sidecar["scope_threshold"] < 1 and 0 < sidecar["review_threshold"] < 1


def test_agents_out_of_scope_decisions_train_the_scope_check_never_a_cause(tmp_path):
    from triage.dataset import LabelledTicket
    from triage.model import read_sidecar
    from triage.training import train

    corpus = [t for t in read_tickets(ticket_files()) if t.category in ("settlement", "fees", "limits")]
    outside = [
        ("oos-1", "明天天气怎么样"),
        ("oos-2", "房贷提前还款怎么申请"),
        ("oos-3", "你好在吗"),
        ("oos-4", "淘宝退款"),
    ]
    decided = [LabelledTicket("desk-000001", "我的信用卡账单怎么分期还", OUT_OF_SCOPE)]
    train(tmp_path, corpus, decided, out_of_scope=outside)
    sidecar = read_sidecar(tmp_path)
    assert OUT_OF_SCOPE not in sidecar["labels"]
    assert sidecar["n_out_of_scope"] == 3  # five texts, the lowest-hashing quarter (two) held out


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="fits run side by side only on two or more cores")
def test_fits_side_by_side_give_the_model_fitted_in_turn(monkeypatch):
    """Large corpora fit in forked processes; the model must be the one a fit in turn gives (one
    liblinear random generator shared by threads gave a different model each run)."""
    import numpy as np

    from kb.articles import load_articles
    from triage import training

    corpus = [t for t in read_tickets(ticket_files()) if t.category in ("settlement", "fees", "limits")]
    in_turn = training.fit(corpus, load_articles(), ["明天天气怎么样", "淘宝退款"], "v")
    monkeypatch.setattr(training, "PARALLEL_FROM", 0)
    side_by_side = training.fit(corpus, load_articles(), ["明天天气怎么样", "淘宝退款"], "v")
    assert side_by_side.labels == in_turn.labels and side_by_side.slugs == in_turn.slugs
    for a, b in ((side_by_side.weights, in_turn.weights), (side_by_side.bias, in_turn.bias)):
        assert np.array_equal(a, b)


def test_fits_in_their_own_processes_come_back_in_order_with_one_call_meanwhile(monkeypatch):
    """Each group fits in a forked process; what runs meanwhile here runs once, when the first is
    back; the results come in the groups' order whichever finishes first."""
    import time

    from triage import training

    monkeypatch.setitem(training._FITS, "slow", lambda: time.sleep(0.5) or "slow")
    monkeypatch.setitem(training._FITS, "quick", lambda: "quick")
    monkeypatch.setitem(training._FITS, "after", lambda: "after")
    calls = []
    results = training._fit_in_parallel([("slow",), ("quick", "after")], lambda: calls.append("meanwhile"))
    assert results == [["slow"], ["quick", "after"]]
    assert calls == ["meanwhile"]


def test_a_fit_failing_in_its_process_fails_here_and_leaves_no_process(monkeypatch):
    import multiprocessing
    import time

    from triage import training

    def broken():
        raise ValueError("the solver gave up")

    monkeypatch.setitem(training._FITS, "broken", broken)
    monkeypatch.setitem(training._FITS, "slow", lambda: time.sleep(30))
    with pytest.raises(RuntimeError, match="the solver gave up"):
        training._fit_in_parallel([("slow",), ("broken",)], lambda: None)
    assert not multiprocessing.active_children()


def test_character_keys_are_the_character_ngrams():
    """The character block's integer keys stand for exactly the n-grams `char_ngrams` lists, text by
    text (astral characters, Latin, digits and empty texts included)."""
    from collections import Counter
    from types import SimpleNamespace

    from triage.features import _char_gram_text, char_gram_keys, char_ngrams

    texts = [("刷卡 显示58",), ("a",), (), ("",), ("𠀀字ab", "x"), ("ｐｏｓ机",), ("  ",), ("手续费", "涨了")]
    keys, owners = char_gram_keys(texts)
    for i, text in enumerate(texts):
        expected = Counter(char_ngrams(SimpleNamespace(content=text), statement=True))
        assert Counter(_char_gram_text(int(k)) for k in keys[owners == i]) == expected
    assert "费涨" not in char_ngrams(SimpleNamespace(content=("手续费", "涨了")), statement=True)


def _small_blocks():
    corpus = read_tickets(ticket_files())
    return [[t.text for t in corpus[:300]], ["刷卡提示58", "钱没到账"], [t.text for t in corpus[300:340]]]


def test_featurising_in_worker_processes_gives_what_featurising_here_gives(monkeypatch):
    """Large training sets are analysed and featurised in forked workers, each on a slice: the
    vocabulary, idf and every block's rows must be the ones featurising in turn gives."""
    import numpy as np

    from triage import features

    blocks = _small_blocks()
    statements = [(0, [5, 150, 299]), (2, range(40))]  # rows in every worker's slice, and a whole block
    (here, *rest_here), vocabulary = features.featurise_many(blocks, 2, np.float64, 1, statements)
    monkeypatch.setattr(features, "PARALLEL_FROM", 0)
    (there, *rest_there), spread = features.featurise_many(blocks, 2, np.float64, 3, statements)
    assert spread.names == vocabulary.names and np.array_equal(spread.idf, vocabulary.idf)
    for a, b in zip([here, *rest_here], [there, *rest_there], strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype == np.float64
        assert (a != b).nnz == 0
    assert here.shape[0] == 300 and rest_here[1].shape[0] == 40
    asked = [analyse(blocks[0][i]) for i in (5, 150, 299)]
    assert (rest_here[2] != vocabulary.matrix(asked, np.float64, statement=True)).nnz == 0
    assert rest_here[3].shape[0] == 40


def test_a_featurising_worker_failing_fails_here_and_leaves_no_process(monkeypatch):
    import multiprocessing

    from triage import features

    real = features.analyse

    def analyse(text, *args):
        if text == "钱没到账":
            raise ValueError("segmenter broke")
        return real(text, *args)

    monkeypatch.setattr(features, "PARALLEL_FROM", 0)
    monkeypatch.setattr(features, "analyse", analyse)
    with pytest.raises(RuntimeError, match="segmenter broke"):
        features.featurise_many(_small_blocks(), 2, processes=2)
    assert not multiprocessing.active_children()


def test_held_out_tickets_past_the_cap_are_a_sample_of_every_category(tmp_path, monkeypatch):
    from triage import training

    corpus = [t for t in read_tickets(ticket_files()) if t.category in ("settlement", "fees", "limits")]
    monkeypatch.setattr(training, "HELD_OUT_TICKETS", 60)
    report = training.train(tmp_path, corpus, out_of_scope=[("o1", "明天天气怎么样"), ("o2", "淘宝退款")])
    assert 55 <= report.n_heldout <= 65 < len(split(corpus)[1])
    assert all(report.metrics["per_class"][c]["support"] for c in ("settlement", "fees", "limits"))
