// Site events (webapp.site_events): a random visitor id kept in this browser (never a cookie: the
// FAQ pages stay cacheable), sent with the ticket form's suggestions and put into the ticket and
// search forms; and, when an article opens, a beacon naming it and the search or suggestion that led
// there. No visitor id when the browser asks not to be tracked (Do-Not-Track, Global Privacy Control).
(function () {
  "use strict";
  var VISITOR_KEY = "posdesk_visitor";
  var FROM_KEY = "posdesk_from"; // {slug, query, at}: the result link just followed
  var FROM_MS = 30 * 60 * 1000;
  var QUERY_MAX = 200;
  var refused = navigator.doNotTrack === "1" || window.doNotTrack === "1" || navigator.globalPrivacyControl === true;

  function storage() {
    try { return window.localStorage; } catch (e) { return null; } // disabled storage throws
  }

  function newId() {
    var bytes = new Uint8Array(16); // 128 bits
    window.crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function visitor() {
    var store = storage();
    if (refused || !store) return null;
    try {
      var id = store.getItem(VISITOR_KEY);
      if (!/^[A-Za-z0-9_-]{16,64}$/.test(id || "")) {
        id = newId();
        store.setItem(VISITOR_KEY, id);
      }
      return id;
    } catch (e) {
      return null;
    }
  }
  window.posdeskVisitor = visitor;

  document.querySelectorAll("input[name=visitor]").forEach(function (input) {
    if (!input.value) input.value = visitor() || "";
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[role=search]") || form.querySelector("input[name=visitor]")) return;
    var id = visitor();
    if (!id) return;
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = "visitor";
    input.value = id;
    form.appendChild(input);
  });

  // A link inside [data-event-query] (search results, suggestions): remember the query for the article.
  function remember(event) {
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    var holder = link && link.closest("[data-event-query]");
    var match = holder && link.pathname.match(/^\/articles\/([^\/]+)$/);
    var store = storage();
    if (!match || !store) return;
    var from = { slug: decodeURIComponent(match[1]), query: holder.dataset.eventQuery.slice(0, QUERY_MAX), at: Date.now() };
    try { store.setItem(FROM_KEY, JSON.stringify(from)); } catch (e) { /* full or disabled */ }
  }
  document.addEventListener("click", remember);
  document.addEventListener("auxclick", remember);

  var article = document.querySelector("[data-article-slug]");
  if (article && navigator.sendBeacon) {
    var slug = article.dataset.articleSlug;
    var data = new URLSearchParams({ kind: "article", slug: slug });
    var store = storage();
    try {
      var from = store && JSON.parse(store.getItem(FROM_KEY) || "null");
      if (from && from.slug === slug) {
        if (from.query && Date.now() - from.at < FROM_MS) data.append("query", String(from.query).slice(0, QUERY_MAX));
        store.removeItem(FROM_KEY);
      }
    } catch (e) { /* unreadable: the open is reported without its query */ }
    var id = visitor();
    if (id) data.append("visitor", id);
    navigator.sendBeacon(article.dataset.eventsUrl, data);
  }
})();
