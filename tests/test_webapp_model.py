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
