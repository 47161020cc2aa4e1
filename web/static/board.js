// Live board: every event of the competition refetches the leaderboard JSON and updates the
// rows in place; changed and new rows get the `changed` class. Without JavaScript the page is
// the same board, reloaded by hand.
(function () {
  var main = document.getElementById('board');
  var slug = main.dataset.slug;
  var api = '/api/v1/competitions/' + encodeURIComponent(slug);
  var status = document.getElementById('live-status');
  var BAR = 160, MARGIN = 6;
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function num(x) { return x === null || x === undefined ? '\u2026' : x.toFixed(4); }
  function rank(r) { return r === null || r === undefined ? '\u2013' : String(r); }
  function team(r) {
    return '<a href="/teams/' + encodeURIComponent(r.team) + '">' + esc(r.team) + '</a>' +
      (r.baseline ? ' (baseline)' : '') + (r['final'] ? ' (final pick)' : '');
  }
  function td(v, n) { return '<td' + (n ? ' class="num"' : '') + '>' + v + '</td>'; }
  function detectionRow(r) {
    var page = '/c/' + encodeURIComponent(slug) + '/detectors/' + r.submission;
    return td(rank(r.rank)) + td(team(r)) + td('<a href="' + page + '">' + r.submission + '</a>') +
      td(num(r.score), 1) + td(num(r.pooled_auc), 1) + td(num(r.worst_auc), 1) +
      td(r.videos_scored + '/' + r.videos_total, 1);
  }
  function creationRow(r) {
    var page = '/c/' + encodeURIComponent(slug) + '/creations/' + r.submission;
    return td(rank(r.rank)) + td(team(r)) + td('<a href="' + page + '">' + r.submission + '</a>') +
      td(num(r.score), 1) + td(num(r.anti_detection), 1) + td(r.detectors_scored, 1) + td(r.videos, 1);
  }
  function ratingRows(rows) {
    var lo = Infinity, hi = -Infinity;
    rows.forEach(function (r) { lo = Math.min(lo, r.ci_low); hi = Math.max(hi, r.ci_high); });
    if (!(hi - lo >= 1)) { var mid = isFinite(lo) ? (lo + hi) / 2 : 1000; lo = mid - 1; hi = mid + 1; }
    function x(v) { return (MARGIN + (v - lo) / (hi - lo) * (BAR - 2 * MARGIN)).toFixed(1); }
    return function (r) {
      var interval = r.ci_low.toFixed(1) + '\u2013' + r.ci_high.toFixed(1);
      var bar = '<svg class="bar" width="' + BAR + '" height="14" viewBox="0 0 ' + BAR + ' 14" role="img">' +
        '<title>' + esc(r.team) + ' (' + r.role + '): ' + r.rating.toFixed(1) + ', 95 % interval ' + interval + '</title>' +
        '<line x1="' + x(r.ci_low) + '" y1="7" x2="' + x(r.ci_high) + '" y2="7" stroke="#5b7bd5" stroke-width="4" stroke-linecap="round"/>' +
        '<circle cx="' + x(r.rating) + '" cy="7" r="4" fill="#1d1d1f"/></svg>';
      return td(rank(r.rank)) + td(team(r)) + td(esc(r.role)) + td(r.rating.toFixed(1), 1) +
        td(bar) + td(interval, 1) + td(r.matches, 1) + td(r.wins, 1) +
        td(r.glicko === null || r.glicko === undefined ? '\u2026' : r.glicko.toFixed(1), 1);
    };
  }
  function cellsText(tr) {
    return Array.prototype.map.call(tr.cells, function (c) { return c.textContent.trim(); }).join('|');
  }
  // Rebuilds a table body in the new order, keeping unchanged rows and marking the others.
  function update(id, rows, key, render) {
    var tbody = document.querySelector('#' + id + ' tbody');
    if (!tbody) return;
    var old = {};
    Array.prototype.forEach.call(tbody.rows, function (tr) { old[tr.dataset.key] = tr; });
    var scratch = document.createElement('tbody');
    var fresh = document.createDocumentFragment();
    rows.forEach(function (r) {
      scratch.innerHTML = '<tr>' + render(r) + '</tr>';
      var tr = scratch.rows[0];
      tr.dataset.key = key(r);
      var prev = old[tr.dataset.key];
      var changed = !prev || cellsText(prev) !== cellsText(tr);
      if (r.baseline) tr.classList.add('baseline');
      if (changed) {
        tr.classList.add('changed');
        setTimeout(function () { tr.classList.remove('changed'); }, 3000);
        fresh.appendChild(tr);
      } else {
        fresh.appendChild(prev);
      }
    });
    tbody.innerHTML = '';
    tbody.appendChild(fresh);
  }
  var pending = null;
  function refresh() {
    pending = null;
    fetch(api + '/leaderboard', { headers: { Accept: 'application/json' } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (b) {
        update('detection', b.detection, function (r) { return String(r.submission); }, detectionRow);
        update('creation', b.creation, function (r) { return String(r.submission); }, creationRow);
        update('ratings', b.ratings, function (r) { return r.role + '/' + r.team; }, ratingRows(b.ratings));
        document.getElementById('n-detection').textContent = b.detection.length;
        document.getElementById('n-creation').textContent = b.creation.length;
        status.textContent = 'live, updated ' + new Date().toLocaleTimeString();
        main.dataset.updates = String(Number(main.dataset.updates || 0) + 1);
      })
      .catch(function (e) { status.textContent = 'update failed (' + e.message + '), retrying on the next event'; });
  }
  if (window.EventSource) {
    var source = new EventSource(api + '/events');
    source.onopen = function () { status.textContent = 'live'; main.dataset.live = 'open'; };
    source.onerror = function () { status.textContent = 'reconnecting\u2026'; main.dataset.live = 'error'; };
    // Bursts of events (a batch of scores) give one refetch.
    source.onmessage = function () { if (!pending) pending = setTimeout(refresh, 200); };
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll('.countdown').forEach(function (el) {
      var t = Number(el.dataset.deadline), st = el.dataset.state;
      if (!t || st === 'closed') return;
      var s = Math.max(0, Math.floor((t - now) / 1000));
      var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = s % 60;
      function two(n) { return (n < 10 ? '0' : '') + n; }
      var left = d > 0 ? d + 'd ' + two(h) + 'h' : h > 0 ? h + 'h ' + two(m) + 'm' : m > 0 ? m + 'm ' + two(sec) + 's' : sec + 's';
      el.textContent = (st === 'open' ? 'closes in ' : 'opens in ') + left;
    });
  }
  setInterval(tick, 1000);
})();
