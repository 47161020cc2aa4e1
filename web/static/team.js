// Uploads with a progress bar; without JavaScript the forms post and redirect the same way.
document.querySelectorAll('form.upload').forEach(function (form) {
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var bar = form.querySelector('.upload-progress');
    var box = form.parentNode.querySelector('.form-error');
    var button = form.querySelector('button');
    box.hidden = true;
    bar.hidden = false;
    button.disabled = true;
    var xhr = new XMLHttpRequest();
    xhr.open('POST', form.action);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = function (e) {
      if (e.lengthComputable) { bar.max = e.total; bar.value = e.loaded; }
    };
    xhr.onload = function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) {}
      if (xhr.status >= 200 && xhr.status < 300 && body.url) {
        location.href = body.url;
        return;
      }
      box.textContent = body.plain || body.message || ('The upload failed (' + xhr.status + ').');
      box.hidden = false;
      bar.hidden = true;
      button.disabled = false;
    };
    xhr.onerror = function () {
      box.textContent = 'The connection was lost during the upload; try again.';
      box.hidden = false;
      bar.hidden = true;
      button.disabled = false;
    };
    xhr.send(new FormData(form));
  });
});
