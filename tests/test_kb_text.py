"""The shared text pipeline: what a word is for both search and triage."""

from __future__ import annotations

import shutil

import pytest

from kb.codes import extract_codes
from kb.paths import data_dir
from kb.text import analyse, domain_terms, normalise, reading_terms


def segment(raw: str) -> list[str]:
    return list(analyse(raw).words)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＰＯＳ机　显示Ａ０", "pos机 显示a0"),
        ("刷卡顯示該商戶沒有權限", "刷卡显示该商户没有权限"),
        ("刷ka卡不跳商户", "刷卡不跳商户"),
        ("保护个人信xi息", "保护个人信息"),
        ("刷KA卡支付", "刷卡支付"),
        ("  多个   空格\n换行 ", "多个 空格 换行"),
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


def test_latin_words_that_are_not_pinyin_stay():
    assert normalise("刷pos机连wifi用app") == "刷pos机连wifi用app"


def test_colloquial_variants_become_one_word():
    assert "无权限" in segment("提示该商户没有权限")
    assert "无权限" in segment("刷卡没权限")
    assert "签购单" in segment("小票打不出来")
    assert segment("刷卡機") == segment("刷卡机") == ["pos机"]


def test_domain_terms_segment_whole():
    words = segment("请提供商户号和终端号，预授权完成时报应答码")
    for term in ("商户号", "终端号", "预授权完成", "应答码"):
        assert term in words


def test_terms_drop_stopwords_and_punctuation():
    assert analyse("请问，退货了吗？谢谢！").terms == ("退货",)
    assert analyse("😀😀 !!! ").terms == ()


def test_a_question_reads_as_its_statement_without_its_question_words():
    asked = analyse("手续费怎么涨了？是不是")
    assert asked.asks and asked.content == ("手续费", "涨了") and asked.statement == ("手续费", "涨")
    told = analyse("手续费 涨了")
    assert not told.asks and told.content == ("手续费涨了",) and told.statement == told.terms
    assert analyse("请问？").content == () and not analyse("").asks


def test_pieces_give_subword_evidence():
    assert "权限" in analyse("没有权限").pieces
    assert analyse("T+1到账").pieces == ["t+1", "到账"]


@pytest.mark.parametrize(
    ("raw", "codes"),
    [
        ("約58", ()),  # Traditional 約 is 约 (about): an amount, for search and triage alike
        ("刷卡顯示５８", ("58",)),
        ("應答碼Ａ０", ("A0",)),
        ("刷ka卡报97", ("97",)),
    ],
)
def test_codes_are_found_in_the_normalised_text(raw, codes):
    assert analyse(raw).codes == codes


def test_analysis_reads_only_the_first_max_chars():
    analysis = analyse("退货" + "啊" * 5000 + "冻结", max_chars=100)
    assert "退货" in analysis.terms and "冻结" not in analysis.terms


@pytest.mark.parametrize(
    ("raw", "codes"),
    [
        ("刷卡返回58", ["58"]),
        ("返回码A0，请重新签到", ["A0"]),
        ("显示 97 终端未登记", ["97"]),
        ("错误代码：03", ["03"]),
        ("报a0然后又报97", ["A0", "97"]),
        ("刷了58元，12笔，晚上11点，费率0.58", []),
        ("商户号898310058120345终端号12345678", []),
        ("T+1到账，D0秒到", []),
    ],
)
def test_extract_codes(raw, codes):
    assert extract_codes(raw) == codes


_SEGMENT = (
    "import sys, kb.text as t; print(' '.join(t.analyse(sys.argv[1]).words)); "
    "print(t.tokenizer().FREQ.get('没有权限', 0), t.tokenizer().total)"
)


def _segment_in_a_new_process(cache, text: str) -> str:
    import os
    import subprocess
    import sys

    env = {**os.environ, "POSDESK_CACHE": str(cache)}
    done = subprocess.run([sys.executable, "-c", _SEGMENT, text], env=env, capture_output=True, text=True, check=True)
    return done.stdout


def test_the_merged_dictionary_is_cached_and_read_back_alike(tmp_path):
    """A new process reads the merged dictionary (jieba's, the user dictionary, the synonym variants)
    from the cache and segments exactly as one that built it; a damaged cache file is rebuilt."""
    text = "刷卡显示该商户没有权限，退货也不行"
    built = _segment_in_a_new_process(tmp_path, text)
    (cached_file,) = tmp_path.glob("jieba-*.marshal")
    assert _segment_in_a_new_process(tmp_path, text) == built
    assert "无权限" in built.split()  # the user dictionary kept 没有权限 whole, the synonyms folded it

    import marshal

    for damaged in (b"not a dictionary", marshal.dumps(({}, 0)), marshal.dumps(("another key", {"a": 1}, 1))):
        cached_file.write_bytes(damaged)
        assert _segment_in_a_new_process(tmp_path, text) == built
        assert cached_file.stat().st_size > 1_000_000  # written again, whole
    assert [p.name for p in tmp_path.iterdir()] == [cached_file.name]  # no temporary file left


def test_the_pinyin_tables_are_cached_and_read_back_alike(tmp_path):
    """The pinyin readers' tables are built by the first process that needs them and read back by
    the next, with the same readings; a damaged one is built again."""
    text = "pos shmyqx tuihuo meiyou quanxian"
    built = _segment_in_a_new_process(tmp_path, text)
    assert "无权限" in built.split() and "退货" in built.split()
    kinds = sorted(p.name.split("-")[0] for p in tmp_path.glob("*.marshal"))
    assert kinds == ["initials", "jieba", "pinyin"]
    assert _segment_in_a_new_process(tmp_path, text) == built
    (pinyin_file,) = tmp_path.glob("pinyin-*.marshal")
    pinyin_file.write_bytes(b"damaged")
    assert _segment_in_a_new_process(tmp_path, text) == built
    assert pinyin_file.stat().st_size > 100_000


@pytest.mark.parametrize("raw", ["\ud800退货没有权限", "退货\udcff没有权限", "\udced\udca0\udc80"])
def test_a_lone_surrogate_never_breaks_the_analysis(raw):
    """Bytes that were not UTF-8 (a command-line argument) or a JSON escape such as "\\ud800" leave
    lone surrogates; they are read as U+FFFD and the rest of the text is analysed as usual."""
    analysis = analyse(raw)
    assert "\ufffd" in analysis.normalised
    if "退货" in raw:
        assert "退货" in analysis.words


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("tuihuo meiyou quanxian", ["退货", "无权限"]),  # written word by word
        ("tui huo mei you quan xian", ["退货", "无权限"]),  # syllable by syllable
        ("shua ka xian shi mei you quan xian", ["显示", "无权限"]),  # everyday words beside domain terms
        ("fenqi fukuan tishi bu zhichi", ["提示", "支持"]),  # a typed space falls between syllables
        ("feilv tiaozheng le", ["费率"]),  # keyboards type ü as v
        ("pos baoxiu huanji", ["报修", "换机"]),  # knowledge-base words, not 缓急
        ("wo mingxia duole yige shanghu", ["名下", "商户"]),
        ("poszenmetuihuo", ["pos机", "怎么", "退货"]),  # a Latin word of the trade glued to pinyin
        ("fenqi fukuan tishi bu zhichi", ["分期付款", "支持"]),  # "bu" stays rather than a rare reading
    ],
)
def test_full_pinyin_is_read_back(raw, words):
    found = segment(raw)
    assert all(w in found for w in words), found


@pytest.mark.parametrize(
    "raw", ["the man can go", "long time no see", "hang seng index", "ni hao ma", "an quan ma", "pos not working"]
)
def test_latin_runs_without_a_domain_term_stay(raw):
    """English, and pinyin that spells no domain term, are left as written."""
    assert normalise(raw) == raw


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ("pos qdsb", "pos 签到失败"),
        ("jhf能退吗", "激活费能退吗"),
        ("pos机sxf怎么突然变高了", "pos机手续费怎么突然变高了"),
        ("fqqx kt", "分期权限 kt"),  # two terms' initials in one word; two letters alone stay
        ("pos shmyqx", "pos 商户没有权限"),  # sh typed whole; 商户 from the titles, not 时候
        ("zhgmm忘了", "主管密码忘了"),
    ],
)
def test_pinyin_initials_of_domain_terms_are_read_back(raw, read):
    assert normalise(raw) == read


@pytest.mark.parametrize("raw", ["退货 sb", "http www sms pdf", "tmd 又不行", "xyz", "ccb icbc", "hhh", "xswl yyds"])
def test_consonant_runs_that_abbreviate_no_domain_term_stay(raw):
    """Two letters say too little, and abbreviations of anything else are left as typed."""
    assert normalise(raw) == raw


def test_reading_terms_are_the_domain_and_what_the_knowledge_base_is_specific_about(tmp_path, monkeypatch):
    shutil.copytree(data_dir() / "jieba", tmp_path / "jieba")
    (tmp_path / "articles").mkdir()
    for name in ("device-repair.md", "no-permission-diagnosis.md"):
        shutil.copy(data_dir() / "articles" / name, tmp_path / "articles" / name)
    (tmp_path / "articles" / "broken.md").write_text("no front matter, 换机", encoding="utf-8")
    monkeypatch.setenv("POSDESK_DATA", str(tmp_path))
    terms = reading_terms()
    assert domain_terms() <= terms.keys()
    assert terms["商户"] >= 1 and terms["报修"] >= 1  # titles and tags, counted
    assert "时候" not in terms and "没有" not in terms  # everyday words are no evidence


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ("terminal 一直报 host timeout", ["pos机", "主机", "超时"]),
        ("POS一直显示no signal", ["信号"]),
        ("merchant not enabled", ["商户", "开通"]),
        ("need VAT invoice for MDR", ["发票", "费率"]),
        ("refund不了", ["退货"]),
    ],
)
def test_english_words_of_the_trade_read_as_their_chinese_terms(raw, words):
    found = analyse(raw).words
    assert all(w in found for w in words), found
