// Article editor: show the preview as the editor types (debounced), rendered by the server with the
// public page's renderer and sanitiser, and the validation errors beside the form.
// Without this script the "预览" button does the same with a page load.
(function () {
  "use strict";
  var form = document.getElementById("article-form");
  if (!form) return;
  var source = form.querySelector("textarea[name=source]");
  var slugInput = form.querySelector("input[name=slug]");
  var token = form.querySelector("input[name=csrf_token]");
  var preview = document.getElementById("preview");
  var errorsBox = document.getElementById("editor-errors");
  var timer = null;
  var pending = null;
  var last = null;

  function showErrors(errors) {
    var list = errorsBox.querySelector("ul");
    list.textContent = "";
    errors.forEach(function (message) {
      var item = document.createElement("li");
      item.className = "field-error";
      item.textContent = message;
      list.appendChild(item);
    });
    errorsBox.hidden = errors.length === 0;
  }

  function refresh() {
    var slug = slugInput ? slugInput.value.trim() : form.dataset.slug;
    var key = slug + "\u0000" + source.value;
    if (key === last) return;
    last = key;
    if (pending) pending.abort();
    pending = new AbortController();
    var body = new URLSearchParams();
    body.set("slug", slug);
    body.set("source", source.value);
    fetch(form.dataset.previewUrl, {
      method: "POST",
      signal: pending.signal,
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": token.value },
      body: body
    })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (data.html) preview.innerHTML = data.html; // rendered and sanitised by the server (nh3)
        preview.classList.toggle("stale", !data.html);
        showErrors(data.errors || []);
      })
      .catch(function () { /* offline or aborted: the 预览 button still works */ });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }

  source.addEventListener("input", schedule);
  if (slugInput) slugInput.addEventListener("input", schedule);
})();
