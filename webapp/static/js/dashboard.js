// The dashboard's charts: Chart.js (vendored in static/vendor/chart.js) draws the numbers the page
// embeds as JSON in #chart-data. Without JavaScript the tables under each chart show the same numbers.
(function () {
  "use strict";
  var source = document.getElementById("chart-data");
  if (!source || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var palette = [
    "#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899",
    "#84cc16", "#f97316", "#64748b", "#0ea5e9", "#a855f7", "#14b8a6", "#eab308",
  ];

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;

  // A phone (390 px) gets every bar its label (shortened; the table below has it whole), a smaller
  // legend, and boxes tall enough for the legend and the bars.
  var narrow = window.matchMedia("(max-width: 600px)").matches;
  var LABEL_CHARS = 10;

  function shortened(label) {
    return narrow && label.length > LABEL_CHARS ? label.slice(0, LABEL_CHARS - 1) + "…" : label;
  }

  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var chart = data[canvas.getAttribute("data-chart")];
    if (!chart) return;
    var horizontal = chart.horizontal;
    var legend = chart.series.length > 1;
    var box = canvas.parentNode;
    var height = box.clientHeight;
    if (horizontal) height = Math.max(height, chart.labels.length * (narrow ? 22 : 26) + 60);
    if (legend && narrow) height += Math.ceil(chart.series.length / 2) * 18;
    box.style.height = height + "px";
    var valueAxis = {
      stacked: chart.stacked,
      beginAtZero: true,
      ticks: chart.unit ? {} : { precision: 0 }, // counts: whole numbers only
      title: { display: !!chart.unit, text: chart.unit },
    };
    var labelAxis = {
      stacked: chart.stacked,
      ticks: {
        autoSkip: !horizontal, // a horizontal chart has room for every category
        maxRotation: 60,
        callback: function (value) {
          return shortened(String(this.getLabelForValue(value)));
        },
      },
    };
    new Chart(canvas, {
      type: chart.kind,
      data: {
        labels: chart.labels,
        datasets: chart.series.map(function (series, i) {
          return {
            label: series.name,
            data: series.values,
            backgroundColor: palette[i % palette.length],
            borderColor: palette[i % palette.length],
          };
        }),
      },
      options: {
        indexAxis: horizontal ? "y" : "x",
        responsive: true,
        plugins: {
          legend: {
            display: legend,
            position: "bottom",
            labels: narrow ? { boxWidth: 8, padding: 6, font: { size: 10 } } : { boxWidth: 12 },
          },
        },
        scales: horizontal ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
      },
    });
  });
})();
