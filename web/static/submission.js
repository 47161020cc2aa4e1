// Refreshes the status block in place until the submission settles.
(function () {
  function poll() {
    var live = document.getElementById('live');
    if (live.dataset.settled === 'true') return;
    fetch(location.href, { credentials: 'same-origin' })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var next = doc.getElementById('live');
        if (next) live.replaceWith(next);
      })
      .catch(function () {})
      .then(function () { setTimeout(poll, 1000); });
  }
  setTimeout(poll, 1000);
})();
