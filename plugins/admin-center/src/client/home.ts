/**
 * /admin/assets/home.js: draws the overview's charts with Chart.js (served by the gateway as chart.js) from the
 * JSON the page embeds. The tables next to each chart carry the same numbers, so nothing depends on the canvas;
 * series differ by line pattern and point shape as well as colour.
 */
export const HOME_JS = `(function(){
  var source = document.getElementById('insights-data');
  if (!source || !window.Chart) return;
  var data = JSON.parse(source.getAttribute('data-json'));
  var Chart = window.Chart;
  Chart.defaults.animation = false;
  Chart.defaults.font.size = 13;
  Chart.defaults.color = '#1b1b1f';
  var funnel = document.getElementById('funnel-chart');
  if (funnel) new Chart(funnel, {
    type: 'bar',
    data: { labels: data.funnel.map(function(s){ return s.label; }),
      datasets: [{ label: 'Attempts that reached the step', data: data.funnel.map(function(s){ return s.count; }),
        backgroundColor: '#0b4fa8', borderColor: '#0b3d91', borderWidth: 1 }] },
    options: { indexAxis: 'y', responsive: true, maintainAspectRatio: false,
      plugins: { legend: { display: false }, tooltip: { callbacks: { afterLabel: function(item){
        var c = data.funnel[item.dataIndex].conversion; return c === null ? '' : 'Conversion: ' + Math.round(c * 100) + '%'; } } } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  var series = document.getElementById('series-chart');
  var styles = [
    { key: 'attempts', label: 'Attempts', color: '#0b4fa8', dash: [], point: 'circle' },
    { key: 'enrolled', label: 'Enrolled', color: '#0a6b2d', dash: [8, 4], point: 'rect' },
    { key: 'failed', label: 'Failed', color: '#a4111b', dash: [2, 3], point: 'triangle' }
  ];
  if (series) new Chart(series, {
    type: 'line',
    data: { labels: data.days.map(function(d){ return d.day; }),
      datasets: styles.map(function(s){ return { label: s.label, data: data.days.map(function(d){ return d[s.key]; }),
        borderColor: s.color, backgroundColor: s.color, borderDash: s.dash, pointStyle: s.point, pointRadius: 4, borderWidth: 2 }; }) },
    options: { responsive: true, maintainAspectRatio: false,
      plugins: { legend: { labels: { usePointStyle: true } } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
  document.body.setAttribute('data-charts', 'drawn');
})();`;
