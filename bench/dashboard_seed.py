"""Give a running desk something to show on its dashboard, through its public interfaces only, then
print what `/api/v1/stats` says.

Files a few hundred tickets through `POST /api/v1/tickets` (bench/tickets_independent.jsonl and lines
of data/tickets), waits for their triage, has a share of them confirmed or corrected to their
labelled category through `PATCH /api/v1/tickets/<id>` (an agent's decision, by the token's name),
and walks merchant visitors through the search page, the ticket form's live suggestions and articles
as the page script does (a random visitor id, the article beacon), some of them filing a ticket on
the web form afterwards, so the funnel and the content gaps have data. Only the standard library:
run it with any Python 3.11.

    posdesk token create dashboard-seed          # prints the token
    .venv/bin/python bench/dashboard_seed.py http://127.0.0.1:8000 TOKEN --tickets 300
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import random
import re
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NO_RESULT_QUERIES = ["花呗分期怎么开通", "数字人民币收款", "外卡 DCC 汇率", "刷脸支付", "会员积分"]


def texts(limit: int, seed: int) -> list[dict]:
    """Labelled ticket texts: the independent set first, then data/tickets lines, shuffled."""
    rows = [json.loads(line) for line in (REPO / "bench" / "tickets_independent.jsonl").open(encoding="utf-8")]
    for path in sorted((REPO / "data" / "tickets").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.open(encoding="utf-8")]
    random.Random(seed).shuffle(rows)
    return rows[:limit]


class Api:
    """JSON calls with the bearer token."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base.rstrip("/"), token

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        """One request; the decoded JSON answer (errors too)."""
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read() or b"{}")


def file_tickets(api: Api, rows: list[dict], decide_share: float, seed: int) -> tuple[int, int]:
    """File every row, wait (bounded) for triage, decide a share; return (filed, decided)."""
    filed = []
    for n, row in enumerate(rows):
        answer = api.call("POST", "/api/v1/tickets", {"text": row["text"], "name": "测试商户"})
        if answer.get("ok"):
            filed.append((answer["ticket"]["id"], row["category"]))
        if n % 50 == 49:
            print(f"  filed {n + 1}", file=sys.stderr)
    chosen = random.Random(seed).sample(filed, int(len(filed) * decide_share))
    decided = 0
    deadline = time.monotonic() + 120
    for ticket_id, category in chosen:
        while time.monotonic() < deadline:
            ticket = api.call("GET", f"/api/v1/tickets/{ticket_id}").get("ticket", {})
            if ticket.get("triage_status") == "done":
                break
            time.sleep(0.5)
        decided += bool(api.call("PATCH", f"/api/v1/tickets/{ticket_id}", {"category": category}).get("ok"))
    return len(filed), decided


def visit(base: str, queries: list[str], tickets: list[str], visitors: int, seed: int) -> None:
    """Merchant visitors as the page script makes them: a random visitor id, a search (some with no
    result), live suggestions while typing a ticket, perhaps an article opened from them (reported
    like the page's beacon), and perhaps a ticket filed on the web form with the same visitor id."""
    rng = random.Random(seed)
    for n in range(visitors):
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        visitor = secrets.token_urlsafe(16)
        query = rng.choice(NO_RESULT_QUERIES) if n % 5 == 0 else rng.choice(queries)
        search_url = f"{base}/search?{urllib.parse.urlencode({'q': query, 'visitor': visitor})}"
        opener.open(search_url, timeout=30).read()
        form = opener.open(f"{base}/tickets/new", timeout=30).read().decode("utf-8")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
        suggest = urllib.request.Request(
            f"{base}/tickets/suggestions",
            data=json.dumps({"q": query, "visitor": visitor}, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": token},
            method="POST",
        )
        results = json.loads(opener.open(suggest, timeout=30).read())["results"]
        if results and rng.random() < 0.6:
            slug = results[0]["slug"]
            opener.open(f"{base}/articles/{slug}", timeout=30).read()
            beacon = {"kind": "article", "slug": slug, "query": query, "visitor": visitor}
            opener.open(f"{base}/events", urllib.parse.urlencode(beacon).encode(), timeout=30).read()
        if tickets and rng.random() < 0.35:
            fields = {
                "csrf_token": token,
                "name": "测试商户",
                "phone": "13800138000",
                "description": tickets.pop(),
                "reviewed": "1",  # the suggestions were shown while typing
                "visitor": visitor,
            }
            opener.open(f"{base}/tickets/new", urllib.parse.urlencode(fields).encode(), timeout=30).read()


def main() -> None:
    """Seed the desk at URL, then print the dashboard's headline figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="the served desk, e.g. http://127.0.0.1:8000")
    parser.add_argument("token", help="an API token (`posdesk token create NAME`)")
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--decide", type=float, default=0.4, help="share of tickets an 'agent' confirms or corrects")
    parser.add_argument("--visitors", type=int, default=80)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    api = Api(args.url, args.token)
    filed, decided = file_tickets(api, texts(args.tickets, args.seed), args.decide, args.seed)
    print(f"filed {filed} tickets, {decided} confirmed or corrected")
    queries = [json.loads(line)["query"] for line in (REPO / "bench" / "queries.jsonl").open(encoding="utf-8")]
    web_tickets = [row["text"] for row in texts(args.tickets + args.visitors, args.seed)[args.tickets :]]
    visit(args.url.rstrip("/"), queries, web_tickets, args.visitors, args.seed)
    stats = api.call("GET", "/api/v1/stats")
    if not stats.get("ok"):
        sys.exit(f"/api/v1/stats answered {stats}")
    print(f"range {stats['start']} to {stats['end']}: {stats['volume']['total']} tickets")
    for version in stats["triage"]:
        print(
            f"model {version['model_version']}: {version['triaged']} triaged, {version['decided']} decided by agents, "
            f"accuracy {version['accuracy']}, auto-routed {version['auto_routed_share']} "
            f"(accuracy {version['auto_accuracy']})"
        )
    funnel = stats["funnel"]
    print(f"funnel: {funnel['shown']} shown suggestions, {funnel['opened']} opened an article, {funnel['outcome']}")
    searches = stats["gaps"]["searches"]
    print(f"searches without result: {searches['no_result_total']}, without click: {searches['no_click_total']}")
    for cluster in stats["gaps"]["clusters"]["clusters"]:
        print(f"cluster {'、'.join(cluster['terms'])}: {cluster['count']} tickets")
    print(f"bursts: {[(b['kind'], b['key'], b['count']) for b in stats['bursts']]}")


if __name__ == "__main__":
    main()
