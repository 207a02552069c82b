// Ticket form: suggest articles while the merchant types (deflection), and count characters.
// Without this script the server shows "先看看这些文章" on the first submit instead.
(function () {
  "use strict";
  var form = document.getElementById("ticket-form");
  if (!form) return;
  var text = form.querySelector("textarea[name=description]");
  var reviewed = document.getElementById("reviewed");
  var panel = document.getElementById("suggest-panel");
  var list = document.getElementById("suggest-list");
  var counter = document.getElementById("counter");
  var token = form.querySelector("input[name=csrf_token]");
  var max = parseInt(text.getAttribute("maxlength"), 10) || 2000;
  var timer = null;
  var lastQuery = "";
  var pending = null;

  function count() {
    counter.textContent = text.value.length + " / " + max;
  }

  function render(query, results) {
    list.textContent = "";
    list.dataset.eventQuery = query; // events.js carries it to the article a merchant opens
    results.forEach(function (hit) {
      var item = document.createElement("li");
      item.className = "result";
      var link = document.createElement("a");
      link.className = "result-title";
      link.href = hit.url;
      link.target = "_blank";
      link.rel = "noopener";
      link.textContent = hit.title;
      var snippet = document.createElement("p");
      snippet.className = "snippet";
      snippet.innerHTML = hit.snippet; // escaped by the server, with <mark> highlights
      item.appendChild(link);
      item.appendChild(snippet);
      list.appendChild(item);
    });
    panel.hidden = results.length === 0;
    // The merchant has seen the suggestions: the next submit files the ticket.
    if (results.length) reviewed.value = "1";
  }

  function suggest() {
    var query = text.value.trim();
    if (query.length < 4 || query === lastQuery) return;
    lastQuery = query;
    if (pending) pending.abort();
    pending = new AbortController();
    var sent = query.slice(0, 200);
    // The typed text goes in a POST body, never in a URL: URLs end up in access logs and histories.
    fetch(form.dataset.suggestUrl, {
      method: "POST",
      signal: pending.signal,
      credentials: "same-origin",
      headers: {
        Accept: "application/json",
        "Content-Type": "application/json",
        "X-CSRFToken": token ? token.value : ""
      },
      body: JSON.stringify({ q: sent, visitor: window.posdeskVisitor ? window.posdeskVisitor() : null })
    })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .then(function (data) { render(sent, (data.results || []).filter(function (h) { return h.url; })); })
      .catch(function () { /* offline or aborted: the server-side fallback still works */ });
  }

  text.addEventListener("input", function () {
    count();
    clearTimeout(timer);
    timer = setTimeout(suggest, 350);
  });
  count();
  if (text.value.trim()) suggest();
})();
