// The venue screen: polls venue.json every 5 seconds and swaps the QR code and the link as the
// venue code rotates (every 10 seconds), so the screen never shows a code older than a few
// seconds. Data come from data-* attributes; the page has no inline script (CSP).
(function () {
  "use strict";
  var main = document.querySelector("main.venue");
  var qr = document.getElementById("venue-qr");
  var link = document.getElementById("venue-link");
  if (!main || !qr || !link || !window.fetch) {
    return;
  }
  var source = main.getAttribute("data-json");

  function apply(body) {
    if (body.url && link.getAttribute("href") !== body.url) {
      // the SVG is rendered by the server from the link it carries
      qr.innerHTML = body.svg;
      link.setAttribute("href", body.url);
      link.textContent = body.url;
      main.setAttribute("data-next-at", body.next_at || "");
    }
  }

  function refresh() {
    fetch(source, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (body) {
        return { ok: r.ok, body: body };
      });
    }).then(function (res) {
      if (res.ok) {
        apply(res.body);
      } else if (res.body && res.body.error) {
        qr.textContent = res.body.error;
        link.removeAttribute("href");
        link.textContent = "";
      }
    }).catch(function () {
      // a dropped poll is retried by the next one
    });
  }

  window.setInterval(refresh, 5000);
})();
