"""In a real browser: an admin opens the model history, sees a refused candidate with its reason,
starts a retrain, follows its progress and then sees the new candidate beside the model it was
compared with. Set POSDESK_SCREENSHOTS (docs/screenshots) to keep the screenshot."""

import os
import shutil
from pathlib import Path

import pytest
from test_browser import CHROMIUM, DESKTOP, _check_and_shoot, browser, live_server, log_in, page_at  # noqa: F401

from triage.model import MODEL_FILE, SIDECAR_FILE, read_sidecar

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
]


@pytest.fixture
def app(make_app, model_dir):
    """The desk with the real loader, the session's full model current, and training on the
    embedded training thread (not inside the request), as `posdesk serve` runs it."""
    application = make_app(TRIAGER_LOADER=None, JOBS_EAGER=False)
    for name in (MODEL_FILE, SIDECAR_FILE):
        shutil.copy(model_dir / name, Path(application.config["MODEL_DIR"]) / name)
    return application


def test_an_admin_retrains_and_sees_the_candidate_beside_the_current_model(
    app,
    live_server,  # noqa: F811
    page_at,  # noqa: F811
    model_dir,
    file,
    tmp_path,
):
    from playwright.sync_api import expect

    from webapp.db import get_desk
    from webapp.desk import model_versions
    from webapp.desk.accounts import create_user
    from webapp.desk.tickets import set_category
    from webapp.retraining import retrain

    desk = get_desk(app)
    create_user(desk, "boss", "admin-pass-1", "admin")
    full = read_sidecar(model_dir)["model_version"]
    tiny = retrain(app, model_versions.request_run(desk, "boss", 60).id, sample=200)  # a deliberately worse one
    ticket = file("POS机刷卡后资金一直没到账")
    set_category(desk, ticket.id, "settlement", "boss")  # new data: the retrain makes a new version

    page = page_at()
    log_in(page, live_server, "boss", "admin-pass-1")
    page.get_by_role("link", name="模型版本").click()
    refused = page.locator(f"#version-{tiny.version}")
    expect(refused.locator(".badge")).to_have_text("未通过")
    expect(refused.locator(".model-reason")).to_contain_text("留出集 macro-F1")
    expect(refused.locator(".model-reason")).to_contain_text("超过容差 0.01")

    page.get_by_role("button", name="重新训练").click()
    expect(page.locator(".flash-success")).to_contain_text("已开始重新训练")
    expect(page.locator("#training-stage")).not_to_have_text("")  # the run's stage, updated by polling
    expect(page.locator("#training-progress")).to_be_visible()
    expect(page.locator("#training-run")).to_have_count(0, timeout=120_000)  # done: the page reloaded

    newest = page.locator(".version-card").first
    expect(newest.locator(".badge")).to_have_text("当前")
    expect(newest.locator("summary").first).to_contain_text(full)  # compared with the model it replaced
    table = newest.locator("table.compare")
    expect(table).to_contain_text("盲测集")
    expect(table).to_contain_text("留出集")
    expect(page.locator(f"#version-{full} .badge")).to_have_text("已停用")
    expect(page.locator(f"#version-{full}").get_by_role("button", name="回滚到此版本")).to_be_visible()
    folder = Path(os.environ.get("POSDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    _check_and_shoot(page, folder / "models-history.png", DESKTOP)
