// The model history page: ask before a rollback, and follow a training run's progress until it ends
// (then reload, to show the candidate beside the current model). Without JavaScript a refresh shows it.
(function () {
  "use strict";

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  });

  var run = document.getElementById("training-run");
  if (!run) {
    return;
  }
  var stage = document.getElementById("training-stage");
  var percent = document.getElementById("training-percent");
  var bar = document.getElementById("training-progress");

  function poll() {
    fetch(run.getAttribute("data-url"), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.json();
      })
      .then(function (state) {
        stage.textContent = state.stage_label || "";
        percent.textContent = state.progress + "%";
        bar.value = state.progress;
        run.setAttribute("data-status", state.status);
        if (state.status === "done" || state.status === "failed") {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, 1000);
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }

  window.setTimeout(poll, 1000);
})();
