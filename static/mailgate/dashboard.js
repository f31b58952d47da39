/* Dashboard chart: delivered over TLS, redirected, deferred and bounced, per hour or day.
   Data comes from the page (json_script "chart-data"); Chart.js is the vendored copy. */
(function () {
  "use strict";
  const source = document.getElementById("chart-data");
  const canvas = document.getElementById("traffic-chart");
  if (!source || !canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const SERIES = [
    ["delivered_tls", "Delivered over TLS", "#198754"],
    ["redirected", "Redirected to Secure Mailbox", "#0d6efd"],
    ["deferred", "Deferred", "#ffc107"],
    ["bounced", "Bounced", "#dc3545"],
  ];

  function chartData(range) {
    const d = data[range];
    return {
      labels: d.labels,
      datasets: SERIES.map(([key, label, colour]) => ({
        label: label,
        data: d.datasets[key] || [],
        backgroundColor: colour,
        borderColor: colour,
        borderWidth: 0,
        borderRadius: 2,
        maxBarThickness: 28,
      })),
    };
  }

  const chart = new Chart(canvas, {
    type: "bar",
    data: chartData("day"),
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12, boxHeight: 12 } } },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
      },
    },
  });
  canvas.dataset.ready = "true";

  document.querySelectorAll("[data-range]").forEach(function (button) {
    button.addEventListener("click", function () {
      document.querySelectorAll("[data-range]").forEach((b) => b.classList.remove("active"));
      button.classList.add("active");
      chart.data = chartData(button.dataset.range);
      chart.update();
    });
  });
})();
