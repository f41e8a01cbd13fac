// Attendee-list upload: the CSRF layer reads a form's token from url-encoded bodies only, so
// the multipart form is sent with fetch and the token in the X-CSRF-Token header. A file over
// the limit is refused here before it is sent; the page the server answers with (the preview
// or the problem report) replaces this one.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.fetch || !window.FormData || !window.DOMParser) {
    return;
  }
  var error = document.getElementById("upload-error");

  function fail(text) {
    error.textContent = text;
    error.hidden = false;
  }

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    error.hidden = true;
    var input = form.querySelector("input[type=file]");
    var file = input && input.files && input.files[0];
    var max = parseInt(form.getAttribute("data-max-bytes"), 10);
    if (file && max && file.size > max) {
      fail(form.getAttribute("data-too-large"));
      return;
    }
    var button = form.querySelector("button[type=submit]");
    if (button) {
      button.disabled = true;
    }
    fetch(form.getAttribute("action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": form.getAttribute("data-csrf") },
      body: new FormData(form)
    }).then(function (r) {
      return r.text();
    }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, "text/html");
      document.title = doc.title;
      document.body.replaceWith(document.adoptNode(doc.body));
      window.scrollTo(0, 0);
    }).catch(function () {
      if (button) {
        button.disabled = false;
      }
      fail(form.getAttribute("data-failed"));
    });
  });
})();
