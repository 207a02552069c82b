"""The web app's model cache: loaded once per process, and never None to a request while another
request is still loading it."""

import threading

from webapp.model import ModelCache


def test_requests_arriving_during_the_load_wait_for_the_model(tmp_path, fake_triager):
    (tmp_path / "model.json").write_text("{}", encoding="utf-8")
    loading, release = threading.Event(), threading.Event()

    def slow_loader(model_dir):
        loading.set()
        release.wait(10)
        return fake_triager

    cache = ModelCache(tmp_path, slow_loader)
    first: list = []
    loader_thread = threading.Thread(target=lambda: first.append(cache.get()))
    loader_thread.start()
    assert loading.wait(10)
    second: list = []
    waiting_thread = threading.Thread(target=lambda: second.append(cache.get()))
    waiting_thread.start()
    release.set()
    loader_thread.join(10)
    waiting_thread.join(10)
    assert first == [(fake_triager, True)]
    assert second == [(fake_triager, False)]  # not (None, False): its ticket would go untriaged


def test_apps_built_after_a_preload_start_from_the_preloaded_model(make_app, monkeypatch, fake_triager):
    """`posdesk serve` preloads the model before gunicorn forks: a worker's app shares that model
    instead of loading it again, and still loads a newer one when the sidecar changes."""
    import os
    from pathlib import Path

    import webapp.model

    monkeypatch.setattr(webapp.model, "_preloaded", {})
    loads: list[Path] = []

    def loader(model_dir):
        loads.append(model_dir)
        return fake_triager

    master = make_app(TRIAGER_LOADER=loader)
    assert webapp.model.preload(master) is fake_triager
    model_dir = Path(master.config["MODEL_DIR"])
    worker = make_app(TRIAGER_LOADER=loader, MODEL_DIR=str(model_dir))
    with worker.app_context():
        assert worker.extensions["posdesk.model"].get() == (fake_triager, False)
        assert loads == [model_dir]  # the worker's app loaded nothing
        (model_dir / "model.json").write_text('{"newer": true}', encoding="utf-8")
        stat = (model_dir / "model.json").stat()
        os.utime(model_dir / "model.json", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert worker.extensions["posdesk.model"].get() == (fake_triager, True)
        assert loads == [model_dir, model_dir]
