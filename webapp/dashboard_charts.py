"""The dashboard's charts as the page draws them and the CSV files export them: each chart is labels
by series (the exact numbers plotted), a table of the same numbers (plus a few columns only a table
shows), and optional examples. Built from one `webapp.desk.stats.Stats`, in the desk's language."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from webapp.desk.stats import Stats
from webapp.desk.stats_funnel import QueryCount

UNTRIAGED_NAME = "未分诊"
STATUS_NAMES = {"new": "新建", "open": "处理中", "pending": "等待商户"}


@dataclass
class Chart:
    """One chart: `kind` (Chart.js type), the row labels, series [(name, one value per label)],
    `extra` columns shown only in the table and CSV, and `details` [(heading, [lines])] of examples."""

    id: str
    title: str
    note: str
    label: str  # the table's first column heading
    labels: list[str]
    series: list[tuple[str, list]]
    kind: str = "bar"
    stacked: bool = False
    horizontal: bool = False
    unit: str = ""
    extra: list[tuple[str, list]] = field(default_factory=list)
    details: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def header(self) -> list[str]:
        """The table's and the CSV's header row."""
        return [self.label, *(name for name, _ in self.series), *(name for name, _ in self.extra)]

    @property
    def rows(self) -> list[list]:
        """One row per label: the label, its value in each series, then the extra columns."""
        columns = [values for _, values in self.series] + [values for _, values in self.extra]
        return [[label, *(column[i] for column in columns)] for i, label in enumerate(self.labels)]

    def config(self) -> dict:
        """What `static/js/dashboard.js` draws."""
        return {
            "kind": self.kind,
            "labels": self.labels,
            "series": [{"name": name, "values": values} for name, values in self.series],
            "stacked": self.stacked,
            "horizontal": self.horizontal,
            "unit": self.unit,
        }

    def csv(self) -> bytes:
        """The chart's table as UTF-8 CSV with a byte-order mark (so Excel reads the Chinese)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.header)
        writer.writerows([["" if v is None else v for v in row] for row in self.rows])
        return "\ufeff".encode() + out.getvalue().encode("utf-8")


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _hours(minutes: float | None) -> float | None:
    return None if minutes is None else round(minutes / 60, 2)


def _off_topic_note(queries) -> str:
    off = [q for q in queries if q.in_scope is False]
    if not off:
        return ""
    examples = "、".join(f"“{q.query}”" for q in off[:3])
    return f"另有 {sum(q.count for q in off)} 次与 POS 收单无关（如{examples}），本就不该有结果，未列出。"


def _queries(chart_id: str, title: str, note: str, found: list[QueryCount]) -> Chart:
    return Chart(
        chart_id,
        title,
        note,
        "搜索词",
        [q.query for q in found],
        [("次数", [q.count for q in found])],
        horizontal=True,
        extra=[("最近一次（UTC）", [q.last_seen for q in found])],
    )


def charts(stats: Stats, category_names: dict[str, str], article_titles: dict[str, str]) -> list[Chart]:
    """Every chart of the dashboard, in page order."""

    def name(slug: str) -> str:
        return UNTRIAGED_NAME if not slug else category_names.get(slug, slug)

    volume, times, triage, funnel, gaps = stats.volume, stats.times, stats.triage, stats.funnel, stats.gaps
    versions = [v.model_version or "（未知）" for v in triage]
    categories = list(dict.fromkeys(p.category for v in triage for p in v.precision))
    pairs = list(dict.fromkeys((c.predicted, c.actual) for v in triage for c in v.confusions))
    clusters = gaps.clusters.clusters
    out = [
        Chart(
            "volume",
            "每日工单量（按分类）",
            f"共 {volume.total} 张；分类以客服确认的为准，未确认的用模型分诊结果。",
            "日期",
            volume.days,
            [(name(c), counts) for c, counts in volume.counts.items()],
            stacked=True,
        ),
        Chart(
            "backlog",
            "当前积压（按状态）",
            "现在所有未解决的工单，不受日期范围影响。",
            "状态",
            [STATUS_NAMES[s] for s in stats.backlog],
            [("工单数", list(stats.backlog.values()))],
        ),
        Chart(
            "times",
            "首次响应与解决时长（小时）",
            f"范围内提交的 {times.tickets} 张工单：已首次响应 {times.responded} 张，已解决 {times.resolved} 张。",
            "指标",
            ["首次响应", "解决"],
            [
                ("中位数", [_hours(times.first_response_median), _hours(times.resolution_median)]),
                ("P90", [_hours(times.first_response_p90), _hours(times.resolution_p90)]),
            ],
            unit="小时",
            extra=[("样本数", [times.responded, times.resolved])],
        ),
        Chart(
            "overdue",
            "超时比例（%）",
            "首次响应或解决晚于时限，或至今未完成且已过时限。",
            "指标",
            ["首次响应超时", "解决超时", "任一超时"],
            [
                (
                    "比例",
                    [
                        _pct(times.first_response_overdue / times.tickets) if times.tickets else None,
                        _pct(times.resolution_overdue / times.tickets) if times.tickets else None,
                        _pct(times.overdue_share),
                    ],
                )
            ],
            unit="%",
            extra=[("工单数", [times.first_response_overdue, times.resolution_overdue, times.overdue])],
        ),
        Chart(
            "triage",
            "分诊质量（按模型版本，%）",
            "准确率按客服确认或更正的工单计算；自动分派：分诊时无需复核；复核率：客服确认或更正的比例。",
            "模型版本",
            versions,
            [
                ("准确率", [_pct(v.accuracy) for v in triage]),
                ("自动分派占比", [_pct(v.auto_routed_share) for v in triage]),
                ("自动分派准确率", [_pct(v.auto_accuracy) for v in triage]),
                ("复核率", [_pct(v.review_rate) for v in triage]),
                ("非 POS 问题占比", [_pct(v.out_of_scope_share) for v in triage]),
            ],
            unit="%",
            extra=[
                ("已分诊", [v.triaged for v in triage]),
                ("客服已确认或更正", [v.decided for v in triage]),
                ("其中确认", [v.confirmed for v in triage]),
            ],
        ),
        Chart(
            "precision",
            "各分类准确率（%）",
            "模型判为该分类、经客服确认或更正的工单中，客服保留原分类的比例。",
            "模型判定的分类",
            [name(c) for c in categories],
            [
                (version, [_pct(next((p.precision for p in v.precision if p.category == c), None)) for c in categories])
                for version, v in zip(versions, triage, strict=True)
            ],
            unit="%",
            extra=[
                (
                    f"复核数（{version}）",
                    [next((p.decided for p in v.precision if p.category == c), 0) for c in categories],
                )
                for version, v in zip(versions, triage, strict=True)
            ],
        ),
        Chart(
            "confusion",
            "常见误判（模型 → 客服）",
            "客服更正最多的分类组合。",
            "模型 → 客服",
            [f"{name(p)} → {name(a)}" for p, a in pairs],
            [
                (
                    version,
                    [next((c.count for c in v.confusions if (c.predicted, c.actual) == pair), 0) for pair in pairs],
                )
                for version, v in zip(versions, triage, strict=True)
            ],
            horizontal=True,
        ),
        Chart(
            "funnel",
            "自助解决漏斗（访客数）",
            "看到建议的访客中：打开了文章的；30 分钟内未提交工单（放弃提交）或提交了工单；不足 30 分钟的仍在进行。"
            + (f"放弃提交占 {funnel.deflection_rate:.0%}。" if funnel.deflection_rate is not None else ""),
            "阶段",
            ["看到建议", "打开文章", "放弃提交", "提交工单", "仍在进行"],
            [
                (
                    "访客",
                    [
                        funnel.shown,
                        funnel.opened,
                        funnel.outcome.abandoned,
                        funnel.outcome.filed,
                        funnel.outcome.still_open,
                    ],
                ),
                (
                    "其中打开过文章的",
                    [
                        funnel.opened,
                        funnel.opened,
                        funnel.opened_outcome.abandoned,
                        funnel.opened_outcome.filed,
                        funnel.opened_outcome.still_open,
                    ],
                ),
            ],
        ),
        Chart(
            "votes",
            "文章评价",
            "范围内商户对文章的“有帮助 / 没帮助”投票，票数最多的在前。",
            "文章",
            [article_titles.get(v.slug, v.slug) for v in stats.votes],
            [("有帮助", [v.helpful for v in stats.votes]), ("没帮助", [v.unhelpful for v in stats.votes])],
            stacked=True,
            horizontal=True,
            details=[
                (
                    article_titles.get(v.slug, v.slug),
                    [f"{'有帮助' if helpful else '没帮助'}：{comment}" for helpful, comment, _ in v.comments],
                )
                for v in stats.votes
                if v.comments
            ],
        ),
        _queries(
            "no_result",
            "没有结果的搜索",
            f"共 {gaps.searches.no_result_total} 次（全部搜索 {gaps.searches.searches} 次）："
            "该写的文章或该加的同义词。" + _off_topic_note(gaps.searches.no_result),
            [q for q in gaps.searches.no_result if q.in_scope is not False],
        ),
        _queries(
            "no_click",
            "有结果但没有点击的搜索",
            f"共 {gaps.searches.no_click_total} 次：30 分钟内同一访客没有打开这次搜索的结果。"
            f"另有 {gaps.searches.no_click_unknown} 次搜索没有访客标识，无法判断。",
            gaps.searches.no_click,
        ),
        Chart(
            "off_topic",
            "判为非 POS 问题、客服归入业务分类的工单",
            f"共 {gaps.off_topic_total} 张：模型认为与收单无关，客服却给了原因分类。",
            "客服给的分类",
            [name(o.category) for o in gaps.off_topic],
            [("工单数", [o.count for o in gaps.off_topic])],
            horizontal=True,
            details=[(name(o.category), [f"#{e.id} {e.preview}" for e in o.examples]) for o in gaps.off_topic],
        ),
        Chart(
            "clusters",
            "低置信度工单的相似问题（建议下一篇写这些）",
            f"最近 {gaps.clusters.tickets} 张需复核的低置信度工单按文字相似分组，"
            f"{gaps.clusters.unclustered} 张不属于任何一组。特征："
            + (
                "模型 " + gaps.clusters.features[6:]
                if gaps.clusters.features.startswith("model")
                else "TF-IDF（尚未训练模型）"
            )
            + "。",
            "问题组（关键词）",
            ["、".join(c.terms) or f"第 {i} 组" for i, c in enumerate(clusters, 1)],
            [("工单数", [c.count for c in clusters])],
            horizontal=True,
            details=[
                ("、".join(c.terms) or f"第 {i} 组", [f"#{tid} {preview}" for tid, preview in c.examples])
                for i, c in enumerate(clusters, 1)
            ],
        ),
    ]
    return out


CHART_IDS = (
    "volume",
    "backlog",
    "times",
    "overdue",
    "triage",
    "precision",
    "confusion",
    "funnel",
    "votes",
    "no_result",
    "no_click",
    "off_topic",
    "clusters",
)
